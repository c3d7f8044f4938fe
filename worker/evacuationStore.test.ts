import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import { deleteByPrefix } from "../lib/redis.ts";
import { createEvacuationStore } from "./evacuationStore.ts";
import { createMigrationLock } from "./migrationLock.ts";

const prefix = `test-evac-${randomBytes(4).toString("hex")}`;
let redis: Redis;

beforeAll(() => {
  redis = new Redis({ host: "127.0.0.1", port: 6379, lazyConnect: false });
});
afterAll(async () => {
  await deleteByPrefix(redis, prefix);
  await redis.quit();
});

const actor = { kind: "cli" as const, id: "alice" };
const result = (vmid: number, status: "succeeded" | "failed") => ({
  vmid,
  name: `vm${vmid}`,
  source: "node1",
  target: "node2",
  status,
});

describe("evacuation store", () => {
  it("refuses a second evacuation of the same node while one is open, then frees the node", async () => {
    const store = createEvacuationStore(redis, prefix);
    const first = await store.create({
      source: "node1",
      kind: "evacuate",
      requestedBy: actor,
      total: 2,
      vmids: [101, 102],
    });
    const second = store.create({
      source: "node1",
      kind: "evacuate",
      requestedBy: actor,
      total: 1,
      vmids: [103],
    });
    await expect(second).rejects.toThrow(UserError);
    await expect(second).rejects.toMatchObject({ code: ErrorCodes.EvacuationInProgress });
    await expect(second).rejects.toThrow(`node1 is already being evacuated (evacuation ${first.id})`);

    expect((await store.recordResult(first.id, result(101, "succeeded"))).done).toBe(false);
    const end = await store.recordResult(first.id, result(102, "succeeded"));
    expect(end.done).toBe(true);
    expect(end.record.status).toBe("finished");
    const again = await store.create({
      source: "node1",
      kind: "return",
      requestedBy: actor,
      total: 1,
      vmids: [101],
    });
    expect((await store.latestOf("node1"))?.id).toBe(again.id);
  });

  it("keeps a stopped evacuation stopped through its last result", async () => {
    const store = createEvacuationStore(redis, prefix);
    const ev = await store.create({
      source: "node3",
      kind: "evacuate",
      requestedBy: actor,
      total: 2,
      vmids: [1, 2],
    });
    expect(await store.halt(ev.id, "stopped", "VM 1 failed")).toBe("stopped");
    expect(await store.halt(ev.id, "cancelled", "late")).toBe("stopped");
    await store.recordResult(ev.id, result(1, "failed"));
    const end = await store.recordResult(ev.id, { ...result(2, "succeeded"), status: "skipped" as const });
    expect(end.record).toMatchObject({ status: "stopped", stopReason: "VM 1 failed" });
    expect(await store.open()).not.toContainEqual(expect.objectContaining({ id: ev.id }));
  });
});

describe("migration lock", () => {
  it("is held by one owner, re-entrant for the same job, free after release or expiry", async () => {
    const lock = createMigrationLock(redis, `${prefix}:lock`, 300);
    expect(await lock.acquire("job-a")).toBe(true);
    expect(await lock.acquire("job-b")).toBe(false);
    expect(await lock.acquire("job-a")).toBe(true);
    await lock.release("job-b");
    expect(await lock.holder()).toBe("job-a");
    await lock.release("job-a");
    expect(await lock.acquire("job-b")).toBe(true);
    await new Promise((r) => setTimeout(r, 400));
    expect(await lock.acquire("job-c")).toBe(true);
  });
});

describe("evacuation store history", () => {
  it("records a re-run VM's result once and finds the last evacuation past a later /migrate", async () => {
    const store = createEvacuationStore(redis, prefix);
    const ev = await store.create({
      source: "node5",
      kind: "evacuate",
      requestedBy: actor,
      total: 2,
      vmids: [1, 2],
    });
    await store.recordResult(ev.id, result(1, "failed"));
    const again = await store.recordResult(ev.id, result(1, "succeeded"));
    expect(again.done).toBe(false);
    expect((await store.results(ev.id)).map((r) => [r.vmid, r.status])).toEqual([[1, "succeeded"]]);
    await store.recordResult(ev.id, result(2, "succeeded"));
    const migrate = await store.create({
      source: "node5",
      kind: "migrate",
      requestedBy: actor,
      total: 1,
      vmids: [3],
    });
    expect((await store.latestOf("node5"))?.id).toBe(migrate.id);
    expect((await store.latestOf("node5", "evacuate"))?.id).toBe(ev.id);
  });
});
