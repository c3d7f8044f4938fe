/**
 * What a chat command is: its slash-command definition, who may run it, its options as a zod schema,
 * and a handler written against the chat port. Also the dependencies every handler gets.
 */
import type { RESTPostAPIChatInputApplicationCommandsJSONBody } from "discord.js";
import type { z } from "zod";
import type { EventLog } from "../audit/eventLog.ts";
import type { AppConfig } from "../config/schema.ts";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import type { PveClient } from "../proxmox/port.ts";
import type { Actor } from "../worker/jobData.ts";
import type { EvacuationQueue } from "../worker/queue.ts";
import type { AccessLevel } from "./access.ts";
import type { ChatPort, CommandOutcome } from "./chatPort.ts";
import type { ClusterCache } from "./clusterCache.ts";
import type { PendingPlans } from "./pendingPlans.ts";

export interface CommandDeps {
  config: AppConfig;
  pve: PveClient;
  queue: EvacuationQueue;
  events: EventLog;
  plans: PendingPlans;
  cluster: ClusterCache;
  logger: Logger;
  now?: () => Date;
}

/** Options as the chat delivered them: `{ node: "node1", dry_run: true }`, a subcommand as `subcommand`. */
export type RawOptions = Record<string, string | number | boolean | undefined>;

export interface CommandContext<O> {
  chat: ChatPort;
  options: O;
  deps: CommandDeps;
}

export interface AutocompleteChoice {
  name: string;
  value: string;
}

export interface ChatCommand<O = unknown> {
  name: string;
  definition: { name: string; toJSON(): RESTPostAPIChatInputApplicationCommandsJSONBody };
  /** Decided on the raw options, before parsing (a subcommand may be read-only, another changing). */
  access(raw: RawOptions): AccessLevel;
  /** The answer only the invoker sees. */
  ephemeral?: boolean;
  options: z.ZodType<O>;
  handle(ctx: CommandContext<O>): Promise<CommandOutcome | undefined>;
  autocomplete?(
    focused: { name: string; value: string },
    raw: RawOptions,
    deps: CommandDeps,
  ): Promise<AutocompleteChoice[]>;
}

/** A command with its option type erased: what the registry and the adapters hold. */
export interface RegisteredCommand {
  name: string;
  definition: ChatCommand["definition"];
  access(raw: RawOptions): AccessLevel;
  ephemeral: boolean;
  /** Parses the raw options (a UserError naming the option when they do not fit) and runs the handler. */
  run(chat: ChatPort, raw: RawOptions, deps: CommandDeps): Promise<CommandOutcome | undefined>;
  autocomplete?: ChatCommand["autocomplete"];
}

export function parseOptions<O>(name: string, schema: z.ZodType<O>, raw: RawOptions): O {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => {
    const key = i.path.map(String).join(".");
    return key ? `option ${key}: ${i.message}` : i.message;
  });
  throw new UserError(ErrorCodes.InvalidInput, `/${name}: ${problems.join("; ")}.`);
}

export function defineCommand<O>(c: ChatCommand<O>): RegisteredCommand {
  return {
    name: c.name,
    definition: c.definition,
    access: c.access,
    ephemeral: c.ephemeral === true,
    run: (chat, raw, deps) => c.handle({ chat, deps, options: parseOptions(c.name, c.options, raw) }),
    ...(c.autocomplete ? { autocomplete: c.autocomplete } : {}),
  };
}

export interface ComponentContext {
  chat: ChatPort;
  action: string;
  id: string;
  deps: CommandDeps;
}

/** Buttons: routed by the prefix of their custom id. */
export interface ComponentHandler {
  prefix: string;
  access: AccessLevel;
  handle(ctx: ComponentContext): Promise<CommandOutcome | undefined>;
}

export function actorOf(chat: ChatPort): Actor {
  return { kind: chat.source === "discord" ? "discord" : "cli", id: chat.user.id, name: chat.user.name };
}

/** How an invocation reads in the audit log: `/evacuate node:node1 dry_run:true`. */
export function commandLine(name: string, raw: RawOptions): string {
  const sub = typeof raw.subcommand === "string" ? ` ${raw.subcommand}` : "";
  const opts = Object.entries(raw)
    .filter(([k, v]) => k !== "subcommand" && v !== undefined)
    .map(([k, v]) => `${k}:${String(v)}`);
  return `/${name}${sub}${opts.length > 0 ? ` ${opts.join(" ")}` : ""}`;
}

/** Autocomplete: choices whose name contains what was typed, at most Discord's 25. */
export function filterChoices(choices: AutocompleteChoice[], typed: string): AutocompleteChoice[] {
  const q = typed.trim().toLowerCase();
  return choices
    .filter((c) => q === "" || c.name.toLowerCase().includes(q) || c.value.toLowerCase().startsWith(q))
    .slice(0, 25)
    .map((c) => ({ name: c.name.slice(0, 100), value: c.value.slice(0, 100) }));
}
