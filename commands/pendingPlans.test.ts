import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedis, deleteByPrefix } from "../lib/redis.ts";
import { createPendingPlans, type PendingPlan } from "./pendingPlans.ts";

const prefix = `test-plans-${randomBytes(4).toString("hex")}`;
let redis: Redis;
const alice = { kind: "discord" as const, id: "1", name: "alice" };
const input: Omit<PendingPlan, "id" | "createdAt" | "expiresAt"> = {
  kind: "evacuate",
  node: "node1",
  groups: [
    {
      source: "node1",
      moves: [
        {
          vmid: 101,
          name: "web",
          type: "qemu",
          target: "node2",
          memoryBytes: 1,
          mode: "live",
          withLocalDisks: false,
        },
      ],
    },
  ],
  view: { kind: "evacuate", node: "node1", moves: [], blocked: [], skipped: [] },
  requestedBy: alice,
  channelId: "c",
};

beforeAll(() => {
  redis = createRedis("redis://127.0.0.1:6379");
});
afterAll(async () => {
  await deleteByPrefix(redis, prefix);
  await redis.quit();
});

describe("pending plans", () => {
  it("keeps a plan until its TTL, stamped with when it expires", async () => {
    const plans = createPendingPlans({ redis, prefix, ttlMs: 60_000, now: () => 1_000 });
    const saved = await plans.save(input);
    expect(saved).toMatchObject({ ...input, createdAt: 1_000, expiresAt: 61_000 });
    expect(saved.id).toMatch(/^[0-9a-f]{16}$/);
    expect(await plans.get(saved.id)).toEqual(saved);
    const ttl = await redis.pttl(`${prefix}:plan:${saved.id}`);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it("is taken once; the second taker learns who took it and what it became", async () => {
    const plans = createPendingPlans({ redis, prefix, ttlMs: 60_000 });
    const saved = await plans.save(input);
    const results = await Promise.all([
      plans.take(saved.id, { action: "confirmed", by: alice }),
      plans.take(saved.id, { action: "confirmed", by: alice }),
    ]);
    expect(results.filter((r) => r !== undefined)).toHaveLength(1);
    await plans.noteEvacuations(saved.id, ["ev1"]);
    expect(await plans.get(saved.id)).toBeUndefined();
    expect(await plans.outcome(saved.id)).toMatchObject({
      action: "confirmed",
      by: alice,
      evacuationIds: ["ev1"],
    });
  });

  it("forgets an expired plan without an outcome, and ignores ids it never made", async () => {
    const plans = createPendingPlans({ redis, prefix, ttlMs: 30 });
    const saved = await plans.save(input);
    for (let i = 0; i < 100 && (await plans.get(saved.id)); i++) await new Promise((r) => setTimeout(r, 10));
    expect(await plans.get(saved.id)).toBeUndefined();
    expect(await plans.take(saved.id, { action: "confirmed", by: alice })).toBeUndefined();
    expect(await plans.outcome(saved.id)).toBeUndefined();
    expect(await plans.get("../../etc")).toBeUndefined();
  });
});
