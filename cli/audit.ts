/**
 * `pve-evacuate audit`: list the audit log with filters (table, CSV, JSONL or JSON), and
 * `pve-evacuate audit verify`: walk the hash chain and say where it breaks (exit 1).
 */
import type { Command } from "commander";
import { Redis } from "ioredis";
import { createEventLog, type EventLog } from "../audit/eventLog.ts";
import { EVENT_TYPES } from "../audit/events.ts";
import {
  describeVerifyResult,
  type EventFilter,
  formatEvents,
  OUTPUT_FORMATS,
  type OutputFormat,
  parseSince,
} from "../audit/query.ts";
import { loadConfigFromProcess } from "../config/load.ts";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import { describeRedisUrl } from "../lib/redis.ts";
import { errorOutputOf, outputOf, type Register } from "./program.ts";

export interface AuditCliDeps {
  /** Environment the config is read from (REDIS_URL); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Redis key prefix of the log; tests use their own. */
  prefix?: string;
  /** Clock for relative `--since`. */
  now?: () => Date;
}

interface ListOptions {
  node?: string;
  vm?: string;
  user?: string;
  since?: string;
  type?: string;
  limit?: string;
  format: OutputFormat;
  json?: boolean;
}

function positiveInt(flag: string, value: string, example: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) <= 0 || !Number.isSafeInteger(Number(value)))
    throw new UserError(
      ErrorCodes.InvalidInput,
      `${flag} ${JSON.stringify(value)} is not a whole number above 0.`,
      `For example ${flag} ${example}.`,
    );
  return Number(value);
}

function eventType(value: string): string {
  if (EVENT_TYPES.some((t) => t === value || t.startsWith(`${value}.`))) return value;
  throw new UserError(
    ErrorCodes.InvalidInput,
    `--type ${JSON.stringify(value)} is not an event type.`,
    `Use one of ${EVENT_TYPES.join(", ")}, or a family such as migration.`,
  );
}

async function withLog<T>(deps: AuditCliDeps, cmd: Command, fn: (log: EventLog) => Promise<T>): Promise<T> {
  const { redisUrl, redisPrefix } = loadConfigFromProcess(deps.env ?? process.env);
  // One attempt, no reconnect loop: a CLI should say Redis is down, not hang.
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
    connectTimeout: 5000,
  });
  redis.on("error", () => {}); // surfaced through the rejected connect/command instead
  try {
    await redis.connect();
  } catch (e) {
    redis.disconnect();
    throw new UserError(
      ErrorCodes.RedisUnreachable,
      `Cannot reach Redis at ${describeRedisUrl(redisUrl)} (${e instanceof Error ? e.message : String(e)}).`,
      "Start Redis or point REDIS_URL at it.",
    );
  }
  const err = errorOutputOf(cmd);
  const log = createEventLog({
    redis,
    prefix: deps.prefix ?? redisPrefix,
    onUnreadable: (id, reason) => err(`warning: audit entry ${id} skipped: ${reason}\n`),
  });
  try {
    return await fn(log);
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}

export function registerAudit(deps: AuditCliDeps = {}): Register {
  return (program) => {
    const audit = program
      .command("audit")
      .description("Show the audit log: who asked what, plans, confirmations, every state change and result.")
      .option("--node <node>", "events on this node (as source or migration target)")
      .option("--vm <vmid>", "events about this VM")
      .option("--user <user>", "events by this user (id or name)")
      .option("--since <time>", "from this time: 2026-01-01, 2026-01-01T08:00Z, or a span ago: 30m, 24h, 7d")
      .option("--type <type>", "one event type, or a family (migration, evacuation)")
      .option("--limit <n>", "only the newest n matching events")
      .option("--format <format>", `output: ${OUTPUT_FORMATS.join(" | ")}`, "table")
      .option("--json", "output a JSON array (same entries as jsonl)")
      .action(async (opts: ListOptions, cmd: Command) => {
        if (!OUTPUT_FORMATS.includes(opts.format))
          throw new UserError(
            ErrorCodes.InvalidInput,
            `--format ${JSON.stringify(opts.format)} is not an output format.`,
            `Use one of ${OUTPUT_FORMATS.join(", ")}.`,
          );
        const filter: EventFilter = {};
        if (opts.node !== undefined) filter.node = opts.node;
        if (opts.vm !== undefined) filter.vmid = positiveInt("--vm", opts.vm, "101");
        if (opts.user !== undefined) filter.user = opts.user;
        if (opts.since !== undefined)
          filter.since = parseSince(opts.since, (deps.now ?? (() => new Date()))());
        if (opts.type !== undefined) filter.type = eventType(opts.type);
        const limit = opts.limit === undefined ? undefined : positiveInt("--limit", opts.limit, "50");

        const events = await withLog(deps, cmd, (log) =>
          log.read(filter, limit === undefined ? {} : { limit }),
        );
        const out = outputOf(cmd);
        if (opts.json) {
          out(`[${formatEvents(events, "jsonl").trimEnd().split("\n").filter(Boolean).join(",")}]\n`);
        } else {
          out(formatEvents(events, opts.format));
        }
      });

    audit
      .command("verify")
      .description("Check the audit log's hash chain; exit 1 and name the first broken entry.")
      .option("--json", "output the result as JSON")
      .action(async (_opts: { json?: boolean }, cmd: Command) => {
        // `audit verify --json`: commander hands --json to `audit`, which knows it too; read both.
        const opts = cmd.optsWithGlobals<{ json?: boolean }>();
        const result = await withLog(deps, cmd, (log) => log.verify());
        const out = outputOf(cmd);
        if (opts.json) out(`${JSON.stringify(result)}\n`);
        if (result.ok) {
          if (!opts.json) out(`${describeVerifyResult(result)}\n`);
          return;
        }
        throw new UserError(ErrorCodes.AuditChainBroken, describeVerifyResult(result));
      });
  };
}

export const register: Register = registerAudit();
