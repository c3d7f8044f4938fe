/**
 * The evacuation record in Redis: what was asked, its state, and each VM's result, plus the per-node
 * marker that refuses a second evacuation of a node already being evacuated. BullMQ holds the jobs;
 * this holds what spans them (stop-on-failure, cancel, "last evacuation of node1" for /return).
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { z } from "zod";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import { Actor } from "./jobData.ts";
import type { MigrationResult } from "./migrateVm.ts";

export const EvacuationStatus = z.enum(["running", "stopped", "cancelled", "finished"]);
export type EvacuationStatus = z.infer<typeof EvacuationStatus>;

export const EvacuationRecord = z.object({
  id: z.string(),
  source: z.string(),
  kind: z.enum(["evacuate", "migrate", "return"]),
  status: EvacuationStatus,
  requestedBy: Actor,
  createdAt: z.string(),
  total: z.number().int(),
  vmids: z.array(z.number().int()),
  stopReason: z.string().optional(),
  finishedAt: z.string().optional(),
});
export type EvacuationRecord = z.infer<typeof EvacuationRecord>;

export interface EvacuationStore {
  /** Creates the record and claims the node; refuses while another evacuation of it is open. */
  create(input: Omit<EvacuationRecord, "id" | "status" | "createdAt">): Promise<EvacuationRecord>;
  get(id: string): Promise<EvacuationRecord | undefined>;
  /** Open evacuations (running), newest first. */
  open(): Promise<EvacuationRecord[]>;
  /** The newest evacuation of a node (of that kind, when given), any status. */
  latestOf(node: string, kind?: EvacuationRecord["kind"]): Promise<EvacuationRecord | undefined>;
  /** Sets stopped/cancelled with a reason unless already ended; returns the status now in force. */
  halt(id: string, status: "stopped" | "cancelled", reason: string): Promise<EvacuationStatus | undefined>;
  /**
   * Records one VM's result; when it was the last, ends the evacuation and frees the node. Idempotent
   * per VM: a job re-run after a crash replaces its result instead of counting twice.
   */
  recordResult(id: string, result: MigrationResult): Promise<{ record: EvacuationRecord; done: boolean }>;
  results(id: string): Promise<MigrationResult[]>;
  /** Frees the node an evacuation claimed (normally done by its last result). */
  release(id: string): Promise<void>;
}

export function newEvacuationId(now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:T]/g, "").slice(0, 14);
  return `ev${stamp}${randomBytes(3).toString("hex")}`;
}

const CLAIM = `
local current = redis.call("GET", KEYS[1])
if current then return current end
redis.call("SET", KEYS[1], ARGV[1])
redis.call("SET", KEYS[2], ARGV[2])
redis.call("ZADD", KEYS[3], ARGV[3], ARGV[1])
return false`;

export function createEvacuationStore(redis: Redis, prefix: string): EvacuationStore {
  const key = {
    record: (id: string) => `${prefix}:evac:${id}`,
    results: (id: string) => `${prefix}:evac:${id}:results`,
    resultOrder: (id: string) => `${prefix}:evac:${id}:result-order`,
    nodeClaim: (node: string) => `${prefix}:evacuating:${node}`,
    byNode: (node: string) => `${prefix}:evacuations:${node}`,
    all: `${prefix}:evacuations`,
  };

  async function get(id: string): Promise<EvacuationRecord | undefined> {
    const raw = await redis.get(key.record(id));
    return raw ? EvacuationRecord.parse(JSON.parse(raw)) : undefined;
  }

  async function save(r: EvacuationRecord) {
    await redis.set(key.record(r.id), JSON.stringify(r));
  }

  async function release(r: EvacuationRecord) {
    const claim = await redis.get(key.nodeClaim(r.source));
    if (claim === r.id) await redis.del(key.nodeClaim(r.source));
  }

  return {
    async create(input) {
      const now = new Date();
      const record: EvacuationRecord = {
        ...input,
        id: newEvacuationId(now),
        status: "running",
        createdAt: now.toISOString(),
      };
      const holder = await redis.eval(
        CLAIM,
        3,
        key.nodeClaim(input.source),
        key.record(record.id),
        key.byNode(input.source),
        record.id,
        JSON.stringify(record),
        String(now.getTime()),
      );
      if (typeof holder === "string") {
        const busy = await get(holder);
        const what =
          busy?.kind === "migrate"
            ? `A migration off ${input.source} is running`
            : busy?.kind === "return"
              ? `A return of guests to ${input.source} is running`
              : `${input.source} is already being evacuated`;
        throw new UserError(
          ErrorCodes.EvacuationInProgress,
          `${what} (evacuation ${holder}).`,
          "Wait for it to finish or cancel it with /evacuation cancel.",
        );
      }
      await redis.zadd(key.all, now.getTime(), record.id);
      return record;
    },
    get,
    async open() {
      const ids = await redis.zrevrange(key.all, 0, 49);
      const records = await Promise.all(ids.map(get));
      return records.filter((r): r is EvacuationRecord => r?.status === "running");
    },
    async latestOf(node, kind) {
      // Newest first; a kind filter looks further back (a /migrate after an evacuation must not hide it).
      const ids = await redis.zrevrange(key.byNode(node), 0, kind ? 99 : 0);
      for (const id of ids) {
        const r = await get(id);
        if (r && (!kind || r.kind === kind)) return r;
      }
      return undefined;
    },
    async halt(id, status, reason) {
      const r = await get(id);
      if (!r) return undefined;
      if (r.status !== "running") return r.status;
      await save({ ...r, status, stopReason: reason });
      return status;
    },
    async recordResult(id, result) {
      const added = await redis.hset(key.results(id), String(result.vmid), JSON.stringify(result));
      if (added === 1) await redis.rpush(key.resultOrder(id), String(result.vmid));
      const count = await redis.hlen(key.results(id));
      const r = await get(id);
      if (!r) throw new Error(`evacuation ${id} has no record`);
      const done = count >= r.total;
      if (!done) return { record: r, done };
      const ended: EvacuationRecord = {
        ...r,
        status: r.status === "running" ? "finished" : r.status,
        finishedAt: new Date().toISOString(),
      };
      await save(ended);
      await release(ended);
      return { record: ended, done };
    },
    async release(id) {
      const r = await get(id);
      if (r) await release(r);
    },
    async results(id) {
      const order = await redis.lrange(key.resultOrder(id), 0, -1);
      if (order.length === 0) return [];
      const raw = await redis.hmget(key.results(id), ...order);
      return raw.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as MigrationResult);
    },
  };
}
