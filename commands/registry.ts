/**
 * The explicit registry of chat commands and button handlers: one line per file, no glob loading.
 * Discord registration, the bot's router and the terminal adapter all read these lists.
 */
import { audit } from "./audit.ts";
import type { ComponentHandler, RegisteredCommand } from "./command.ts";
import { evacuate } from "./evacuate.ts";
import { evacuation } from "./evacuation.ts";
import { migrate } from "./migrate.ts";
import { nodes } from "./nodes.ts";
import { planButtons } from "./planButtons.ts";
import { returnCommand } from "./return.ts";

export const commands = {
  evacuate,
  migrate,
  evacuation,
  return: returnCommand,
  audit,
  nodes,
} as const satisfies Record<string, RegisteredCommand>;

export type CommandName = keyof typeof commands;

export const componentHandlers: readonly ComponentHandler[] = [planButtons];

export function commandNamed(name: string): RegisteredCommand | undefined {
  return Object.hasOwn(commands, name) ? commands[name as CommandName] : undefined;
}

export function componentHandlerFor(prefix: string): ComponentHandler | undefined {
  return componentHandlers.find((h) => h.prefix === prefix);
}

/** The JSON Discord's "bulk overwrite commands" endpoint takes. */
export function commandDefinitions() {
  return Object.values(commands).map((c) => c.definition.toJSON());
}
