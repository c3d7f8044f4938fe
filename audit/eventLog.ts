/**
 * The audit log on Redis: one Stream (`<prefix>:events`) whose entries carry `event` (canonical
 * JSON), `prev` and `hash`, plus a head key (`<prefix>:events:head`) holding the last hash.
 *
 * Appends are optimistic check-and-set: the client hashes against the head it knows and a Lua
 * script adds the entry only if the head is still that one (Lua has no SHA-256, so the hash cannot
 * be computed server-side). On conflict the script returns the current head and the client
 * re-hashes. Appends from one EventLog are also queued in call order, so within a process events
 * land in the order they were made and conflicts only come from other processes.
 *
 * The connection is injected; consumers block on reads, so they get their own connection.
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { z } from "zod";
import { AuditEvent, type AuditEventInput, auditedByDefault } from "./events.ts";
import {
  type ChainEntry,
  ChainVerifier,
  canonicalJson,
  entryHash,
  GENESIS_HASH,
  type VerifyResult,
} from "./hashChain.ts";
import { type EventFilter, matches, type StoredEvent } from "./query.ts";

export const DEFAULT_PREFIX = "pve-evacuate";

const APPEND_SCRIPT = `
local head = redis.call('GET', KEYS[2])
if not head then
  if redis.call('XLEN', KEYS[1]) > 0 then return {'missing-head', ''} end
  head = ARGV[4]
end
if head ~= ARGV[1] then return {'conflict', head} end
local id = redis.call('XADD', KEYS[1], '*', 'event', ARGV[2], 'prev', ARGV[1], 'hash', ARGV[3])
redis.call('SET', KEYS[2], ARGV[3])
return {'ok', id}
`;
const APPEND_SHA = createHash("sha1").update(APPEND_SCRIPT).digest("hex");
const MAX_APPEND_ATTEMPTS = 100;

const ScriptReply = z.tuple([z.enum(["ok", "conflict", "missing-head"]), z.string()]);
/** XRANGE reply; fields are null for an entry deleted while still pending in a group. */
const RawEntries = z.array(z.tuple([z.string(), z.array(z.string()).nullable()]));
type RawEntries = z.infer<typeof RawEntries>;
const ReadGroupReply = z.array(z.tuple([z.string(), RawEntries])).nullable();
const AutoClaimReply = z.tuple([z.string(), RawEntries]).rest(z.unknown());

export interface EventLogOptions {
  redis: Redis;
  /** Key prefix; tests use a random one. Default `pve-evacuate`. */
  prefix?: string;
  /** Record `migration.progress` too (off by default: the log keeps history, not live updates). */
  auditProgress?: boolean;
  /** Clock for `at` when the caller leaves it out. */
  now?: () => Date;
  /** Called for an entry that is not a valid event (forged, or from a newer schema); it is skipped. */
  onUnreadable?: (id: string, reason: string) => void;
}

export interface ReadOptions {
  /** The newest `limit` matching events (still returned oldest first). */
  limit?: number;
  pageSize?: number;
}

export interface ConsumerOptions {
  group: string;
  /** Stable name per process role (e.g. `bot`): entries it had not acked come back after a restart. */
  consumer: string;
  /** Where a new group starts: only events after its creation (`end`, default) or the whole log. */
  startAt?: "beginning" | "end";
  /** Max entries per read. Default 50. */
  count?: number;
  /** Also take over entries other consumers of the group left unacked this long (XAUTOCLAIM). */
  claimIdleMs?: number;
  /** Connection to block on; default: a duplicate of the log's connection, closed by close(). */
  connection?: Redis;
}

export interface ConsumedEvent extends StoredEvent {}

export interface EventConsumer {
  /** Events for this consumer: first its own unacked ones from before a restart, then new ones. */
  readNew(blockMs?: number): Promise<ConsumedEvent[]>;
  ack(...ids: string[]): Promise<number>;
  /** Entries delivered to this consumer and not acked yet. */
  pendingCount(): Promise<number>;
  close(): Promise<void>;
}

export interface EventLog {
  readonly streamKey: string;
  readonly headKey: string;
  /** Validates, stamps `at` if missing, chains and appends; null when the kind is not audited. */
  append(event: AuditEventInput): Promise<StoredEvent | null>;
  read(filter?: EventFilter, options?: ReadOptions): Promise<StoredEvent[]>;
  /** Raw chain entries oldest first, paged. */
  entries(pageSize?: number): AsyncGenerator<ChainEntry>;
  verify(pageSize?: number): Promise<VerifyResult>;
  head(): Promise<string>;
  createConsumer(options: ConsumerOptions): Promise<EventConsumer>;
}

export class AuditAppendError extends Error {
  override readonly name = "AuditAppendError";
}

function toChainEntry([id, fields]: RawEntries[number]): ChainEntry {
  const map = new Map<string, string>();
  for (let i = 0; fields !== null && i + 1 < fields.length; i += 2)
    map.set(fields[i] as string, fields[i + 1] as string);
  return { id, event: map.get("event") ?? "", prev: map.get("prev") ?? "", hash: map.get("hash") ?? "" };
}

function parseStored(entry: ChainEntry): StoredEvent | string {
  let json: unknown;
  try {
    json = JSON.parse(entry.event);
  } catch {
    return "event is not JSON";
  }
  const parsed = AuditEvent.safeParse(json);
  if (!parsed.success) return `not a valid event: ${z.prettifyError(parsed.error).replace(/\n/g, " ")}`;
  return { id: entry.id, prev: entry.prev, hash: entry.hash, canonical: entry.event, event: parsed.data };
}

export function createEventLog(options: EventLogOptions): EventLog {
  const { redis } = options;
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const streamKey = `${prefix}:events`;
  const headKey = `${prefix}:events:head`;
  const now = options.now ?? (() => new Date());
  const onUnreadable = options.onUnreadable ?? (() => {});

  let knownHead: string | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  function serial<T>(fn: () => Promise<T>): Promise<T> {
    const result = queue.then(fn);
    queue = result.catch(() => undefined);
    return result;
  }

  async function runAppendScript(prev: string, canonical: string, hash: string) {
    const args = [2, streamKey, headKey, prev, canonical, hash, GENESIS_HASH] as const;
    let reply: unknown;
    try {
      reply = await redis.evalsha(APPEND_SHA, ...args);
    } catch (e) {
      if (!(e instanceof Error) || !e.message.startsWith("NOSCRIPT")) throw e;
      reply = await redis.eval(APPEND_SCRIPT, ...args);
    }
    return ScriptReply.parse(reply);
  }

  function readable(entry: ChainEntry): StoredEvent | undefined {
    const stored = parseStored(entry);
    if (typeof stored === "string") {
      onUnreadable(entry.id, stored);
      return undefined;
    }
    return stored;
  }

  async function* entries(pageSize = 500, reverse = false): AsyncGenerator<ChainEntry> {
    let bound = reverse ? "+" : "-";
    for (;;) {
      const reply = RawEntries.parse(
        reverse
          ? await redis.call("XREVRANGE", streamKey, bound, "-", "COUNT", pageSize)
          : await redis.call("XRANGE", streamKey, bound, "+", "COUNT", pageSize),
      );
      for (const raw of reply) yield toChainEntry(raw);
      const last = reply.at(-1);
      if (last === undefined || reply.length < pageSize) return;
      bound = `(${last[0]}`;
    }
  }

  return {
    streamKey,
    headKey,

    async append(input) {
      const event = AuditEvent.parse({ ...input, at: input.at ?? now().toISOString() });
      if (!options.auditProgress && !auditedByDefault(event.type)) return null;
      const canonical = canonicalJson(event);
      return serial(async () => {
        let prev = knownHead ?? (await redis.get(headKey)) ?? GENESIS_HASH;
        for (let attempt = 0; attempt < MAX_APPEND_ATTEMPTS; attempt++) {
          const hash = entryHash(prev, canonical);
          const [status, value] = await runAppendScript(prev, canonical, hash);
          if (status === "ok") {
            knownHead = hash;
            return { id: value, prev, hash, canonical, event };
          }
          if (status === "missing-head")
            throw new AuditAppendError(
              `${headKey} is missing while ${streamKey} has entries: the log was tampered with or partly restored. Run \`pve-evacuate audit verify\`.`,
            );
          prev = value;
        }
        throw new AuditAppendError(
          `gave up appending to ${streamKey} after ${MAX_APPEND_ATTEMPTS} conflicting writes`,
        );
      });
    },

    async read(filter = {}, readOptions = {}) {
      const { limit, pageSize = 500 } = readOptions;
      const out: StoredEvent[] = [];
      if (limit !== undefined) {
        if (limit <= 0) return out;
        for await (const entry of entries(pageSize, true)) {
          const stored = readable(entry);
          if (stored && matches(filter, stored.event)) out.push(stored);
          if (out.length >= limit) break;
        }
        return out.reverse();
      }
      for await (const entry of entries(pageSize)) {
        const stored = readable(entry);
        if (stored && matches(filter, stored.event)) out.push(stored);
      }
      return out;
    },

    entries: (pageSize) => entries(pageSize),

    async verify(pageSize = 500) {
      // Head and last id read together, so appends made during the walk are not mistaken for a break.
      const snapshot = await redis.multi().get(headKey).xrevrange(streamKey, "+", "-", "COUNT", 1).exec();
      if (!snapshot) throw new Error("verify: MULTI was discarded");
      const [headReply, lastReply] = snapshot;
      if (headReply?.[0]) throw headReply[0];
      if (lastReply?.[0]) throw lastReply[0];
      const head = z.string().nullable().parse(headReply?.[1]);
      const lastId = RawEntries.parse(lastReply?.[1])[0]?.[0];
      const verifier = new ChainVerifier();
      let seenLast: string | undefined;
      if (lastId !== undefined) {
        for await (const entry of entries(pageSize)) {
          if (verifier.push(entry)) break;
          seenLast = entry.id;
          if (entry.id === lastId) break;
        }
      }
      return verifier.finish(head ?? GENESIS_HASH, seenLast);
    },

    async head() {
      return (await redis.get(headKey)) ?? GENESIS_HASH;
    },

    async createConsumer(consumerOptions) {
      const { group, consumer, count = 50, claimIdleMs } = consumerOptions;
      const owned = consumerOptions.connection === undefined;
      const conn = consumerOptions.connection ?? redis.duplicate();
      try {
        await conn.call(
          "XGROUP",
          "CREATE",
          streamKey,
          group,
          consumerOptions.startAt === "beginning" ? "0" : "$",
          "MKSTREAM",
        );
      } catch (e) {
        if (!(e instanceof Error) || !e.message.startsWith("BUSYGROUP")) {
          if (owned) conn.disconnect();
          throw e;
        }
      }

      // Own pending entries are read once, from the start, before anything new: they are what a
      // crash left delivered but unacknowledged. Re-reading them later would duplicate in-flight work.
      let pendingCursor: string | undefined = "0";
      let claimCursor = "0-0";

      async function deliver(raw: RawEntries): Promise<ConsumedEvent[]> {
        const out: ConsumedEvent[] = [];
        const drop: string[] = [];
        for (const item of raw) {
          if (item[1] === null) {
            // The entry was deleted from the stream after delivery: nothing left to hand out.
            drop.push(item[0]);
            continue;
          }
          const stored = readable(toChainEntry(item));
          if (stored) out.push(stored);
          else drop.push(item[0]);
        }
        if (drop.length > 0) await conn.call("XACK", streamKey, group, ...drop);
        return out;
      }

      return {
        async readNew(blockMs) {
          while (pendingCursor !== undefined) {
            const reply = ReadGroupReply.parse(
              await conn.call(
                "XREADGROUP",
                "GROUP",
                group,
                consumer,
                "COUNT",
                count,
                "STREAMS",
                streamKey,
                pendingCursor,
              ),
            );
            const raw = reply?.[0]?.[1] ?? [];
            const last = raw.at(-1);
            pendingCursor = last === undefined ? undefined : last[0];
            const events = await deliver(raw);
            if (events.length > 0) return events;
          }
          if (claimIdleMs !== undefined) {
            const [next, raw] = AutoClaimReply.parse(
              await conn.call(
                "XAUTOCLAIM",
                streamKey,
                group,
                consumer,
                claimIdleMs,
                claimCursor,
                "COUNT",
                count,
              ),
            );
            claimCursor = next;
            const events = await deliver(raw);
            if (events.length > 0) return events;
          }
          const block = blockMs === undefined ? [] : ["BLOCK", blockMs];
          const reply = ReadGroupReply.parse(
            await conn.call(
              "XREADGROUP",
              "GROUP",
              group,
              consumer,
              "COUNT",
              count,
              ...block,
              "STREAMS",
              streamKey,
              ">",
            ),
          );
          return deliver(reply?.[0]?.[1] ?? []);
        },

        async ack(...ids) {
          if (ids.length === 0) return 0;
          return z.number().parse(await conn.call("XACK", streamKey, group, ...ids));
        },

        async pendingCount() {
          const reply = z
            .array(z.tuple([z.string(), z.string()]))
            .parse(((await conn.call("XPENDING", streamKey, group)) as unknown[] | null)?.[3] ?? []);
          return reply.filter(([name]) => name === consumer).reduce((sum, [, n]) => sum + Number(n), 0);
        },

        async close() {
          if (owned) await conn.quit();
        },
      };
    },
  };
}
