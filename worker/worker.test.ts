/**
 * The BullMQ adapter's own duties with real Redis and a PVE that cannot be reached: a job that runs
 * out of attempts still ends its evacuation with a failed result and frees the node.
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEventLog } from "../audit/eventLog.ts";
import { followEvacuation } from "../cli/evacuate.ts";
import { createLogger } from "../lib/logger.ts";
import { createRedis, deleteByPrefix } from "../lib/redis.ts";
import type { PveClient } from "../proxmox/port.ts";
import { createEvacuationQueue } from "./queue.ts";
import { createWorker, DEFAULT_WORKER_POLICY } from "./worker.ts";

const prefix = `test-wk-${randomBytes(4).toString("hex")}`;
let redis: Redis;
beforeAll(() => {
  redis = createRedis("redis://127.0.0.1:6379");
});
afterAll(async () => {
  await deleteByPrefix(redis, prefix);
  await redis.quit();
});

/** Every call fails like a bug or an outage would. */
const unreachable = new Proxy({} as PveClient, {
  get: () => async () => {
    throw new Error("connect ECONNREFUSED 10.0.0.1:8006");
  },
});

describe("worker", () => {
  it("reports a job that used up its attempts as failed, skips the rest and frees the node", async () => {
    const events = createEventLog({ redis, prefix });
    const queue = createEvacuationQueue({ redis, prefix, events, attempts: 2, backoffMs: 50 });
    const worker = createWorker({
      redis,
      prefix,
      pve: unreachable,
      events,
      preCheck: async () => [],
      qos: { start: async () => ({ notMeasured: "test" }) },
      parseTaskLog: () => ({ status: "running" }),
      policy: { ...DEFAULT_WORKER_POLICY, lockTtlMs: 2000, stalledIntervalMs: 2000 },
      logger: createLogger({ level: "silent" }),
      workerId: "test",
    });
    try {
      const move = {
        name: "web",
        type: "qemu" as const,
        target: "node2",
        memoryBytes: 1,
        mode: "live" as const,
        withLocalDisks: false,
      };
      const record = await queue.enqueue({
        source: "node1",
        kind: "evacuate",
        moves: [
          { ...move, vmid: 101 },
          { ...move, vmid: 102 },
        ],
        requestedBy: { kind: "cli", id: "t" },
      });
      const results = await followEvacuation(queue, record.id, {}, 50);
      expect(results.map((r) => [r.vmid, r.status])).toEqual([
        [101, "failed"],
        [102, "skipped"],
      ]);
      expect(results[0]?.error).toMatch(
        /gave up after 2 attempt\(s\): .*ECONNREFUSED|gave up after 2 attempt\(s\)/,
      );
      expect((await queue.store.get(record.id))?.status).toBe("stopped");
      // The node is free again.
      const next = await queue.enqueue({
        source: "node1",
        kind: "evacuate",
        moves: [{ ...move, vmid: 103 }],
        requestedBy: { kind: "cli", id: "t" },
      });
      expect(next.id).not.toBe(record.id);
    } finally {
      await worker.close();
      await queue.queue.obliterate({ force: true });
      await queue.close();
    }
  });
});
