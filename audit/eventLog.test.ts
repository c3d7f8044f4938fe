import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEventLog, type EventLog, type EventLogOptions } from "./eventLog.ts";
import type { AuditEventInput } from "./events.ts";
import { GENESIS_HASH, link } from "./hashChain.ts";

const REDIS_URL = "redis://127.0.0.1:6379";
const runPrefix = `test-audit-${randomUUID()}`;
let redis: Redis;
let other: Redis;
let n = 0;

beforeAll(() => {
  redis = new Redis(REDIS_URL);
  other = new Redis(REDIS_URL);
});

afterAll(async () => {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, found] = await redis.scan(cursor, "MATCH", `${runPrefix}*`, "COUNT", 1000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== "0");
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
  await other.quit();
});

function freshLog(options: Partial<EventLogOptions> = {}): EventLog {
  n += 1;
  return createEventLog({ redis, prefix: `${runPrefix}:${n}`, ...options });
}

const alice = { kind: "discord", id: "111111111111111111", name: "Alice" } as const;
const worker = { kind: "worker", id: "worker-1" } as const;

const requested = (at: string, node = "node1"): AuditEventInput => ({
  type: "evacuation.requested",
  at,
  actor: alice,
  evacuationId: "ev-1",
  node,
  mode: "evacuate",
  source: node,
  options: { dryRun: false, includeStopped: true },
});
const started = (at: string, vmid: number, target = "node2"): AuditEventInput => ({
  type: "migration.started",
  at,
  actor: worker,
  evacuationId: "ev-1",
  node: "node1",
  vmid,
  upid: `UPID:node1:0000ABCD:00112233:65A00000:qmigrate:${vmid}:root@pam:`,
  target,
});
const result = (at: string, vmid: number): AuditEventInput => ({
  type: "migration.result",
  at,
  actor: worker,
  evacuationId: "ev-1",
  node: "node1",
  vmid,
  status: "ok",
  target: "node2",
  pve: {
    durationMs: 12_000,
    downtimeMs: 45,
    transferredBytes: 2 ** 30,
    totalBytes: 2 ** 31,
    averageSpeed: 1e8,
  },
  qos: { observedDowntimeMs: 60, loss: 0.001, delayMs: 0.4, jitterMs: 0.1, grades: { downtime: "good" } },
});

async function appendSample(log: EventLog) {
  const out = [];
  out.push(await log.append(requested("2026-01-01T08:00:00Z")));
  out.push(await log.append(started("2026-01-01T08:01:00Z", 101)));
  out.push(await log.append(result("2026-01-01T08:02:00Z", 101)));
  out.push(await log.append(started("2026-01-02T08:01:00Z", 102, "node3")));
  out.push(
    await log.append({
      type: "command.denied",
      at: "2026-01-03T09:00:00Z",
      actor: { kind: "discord", id: "222222222222222222", name: "Bob" },
      command: "/evacuate node:node2",
      reason: "missing the operator role",
      node: "node2",
    }),
  );
  return out.map((e) => {
    if (e === null) throw new Error("sample event was not recorded");
    return e;
  });
}

describe("append and read", () => {
  it("chains entries from the genesis hash and reads them back in order", async () => {
    const log = freshLog();
    const appended = await appendSample(log);
    expect(appended[0]?.prev).toBe(GENESIS_HASH);
    for (let i = 1; i < appended.length; i++) expect(appended[i]?.prev).toBe(appended[i - 1]?.hash);
    expect(await log.head()).toBe(appended.at(-1)?.hash);
    const read = await log.read();
    expect(read).toEqual(appended);
    expect(read[2]?.event).toMatchObject({ type: "migration.result", qos: { grades: { downtime: "good" } } });
  });

  it("stamps `at` when the caller leaves it out", async () => {
    const log = freshLog({ now: () => new Date("2026-02-03T04:05:06.789Z") });
    const stored = await log.append({ type: "evacuation.confirmed", actor: alice, evacuationId: "ev-1" });
    expect(stored?.event.at).toBe("2026-02-03T04:05:06.789Z");
  });

  it("refuses an invalid event and writes nothing", async () => {
    const log = freshLog();
    const bad = { type: "migration.started", actor: worker, target: "node2" } as unknown as AuditEventInput;
    await expect(log.append(bad)).rejects.toThrow(/upid/);
    expect(await log.read()).toEqual([]);
    expect(await log.head()).toBe(GENESIS_HASH);
  });

  it("keeps progress out of the log unless asked", async () => {
    const progress: AuditEventInput = { type: "migration.progress", actor: worker, vmid: 101, percent: 40 };
    const lean = freshLog();
    expect(await lean.append(progress)).toBeNull();
    expect(await lean.read()).toEqual([]);
    const full = freshLog({ auditProgress: true });
    expect(await full.append(progress)).not.toBeNull();
    expect(await full.read()).toHaveLength(1);
  });

  it("filters by node (source or target), vm, user, since, type family and limit", async () => {
    const log = freshLog();
    await appendSample(log);
    const types = async (...args: Parameters<EventLog["read"]>) =>
      (await log.read(...args)).map((e) => `${e.event.type}${e.event.vmid ? `:${e.event.vmid}` : ""}`);
    expect(await types({ node: "node3" })).toEqual(["migration.started:102"]);
    expect(await types({ node: "node2" })).toEqual([
      "migration.started:101",
      "migration.result:101",
      "command.denied",
    ]);
    expect(await types({ vmid: 101 })).toEqual(["migration.started:101", "migration.result:101"]);
    expect(await types({ user: "alice" })).toEqual(["evacuation.requested"]);
    expect(await types({ user: "222222222222222222" })).toEqual(["command.denied"]);
    expect(await types({ since: new Date("2026-01-02T00:00:00Z") })).toEqual([
      "migration.started:102",
      "command.denied",
    ]);
    expect(await types({ type: "migration" })).toEqual([
      "migration.started:101",
      "migration.result:101",
      "migration.started:102",
    ]);
    expect(await types({ type: "migration.result" })).toEqual(["migration.result:101"]);
    expect(await types({}, { limit: 2 })).toEqual(["migration.started:102", "command.denied"]);
    expect(await types({ vmid: 101 }, { limit: 1, pageSize: 1 })).toEqual(["migration.result:101"]);
    expect(await types({}, { pageSize: 2 })).toHaveLength(5);
  });
});

describe("verify", () => {
  it("accepts an empty log and an intact one", async () => {
    const log = freshLog();
    expect(await log.verify()).toEqual({ ok: true, count: 0, head: GENESIS_HASH });
    const appended = await appendSample(log);
    expect(await log.verify(2)).toEqual({ ok: true, count: 5, head: appended.at(-1)?.hash });
  });

  it("finds a forged entry added with a wrong prev", async () => {
    const log = freshLog();
    await appendSample(log);
    const forged = link("f".repeat(64), {
      type: "evacuation.confirmed",
      at: "2026-01-04T00:00:00Z",
      actor: alice,
    });
    const id = await redis.xadd(
      log.streamKey,
      "*",
      "event",
      forged.event,
      "prev",
      forged.prev,
      "hash",
      forged.hash,
    );
    expect(await log.verify()).toMatchObject({ ok: false, index: 5, id, reason: "prev-mismatch" });
  });

  it("finds a correctly chained entry added around the log (head not moved)", async () => {
    const log = freshLog();
    await appendSample(log);
    const forged = link(await log.head(), {
      type: "evacuation.confirmed",
      at: "2026-01-04T00:00:00Z",
      actor: alice,
    });
    const id = await redis.xadd(
      log.streamKey,
      "*",
      "event",
      forged.event,
      "prev",
      forged.prev,
      "hash",
      forged.hash,
    );
    expect(await log.verify()).toMatchObject({ ok: false, index: 6, id, reason: "head-mismatch" });
  });

  it("finds a deleted entry, in the middle and at the end", async () => {
    const middle = freshLog();
    const a = await appendSample(middle);
    await redis.xdel(middle.streamKey, a[2]?.id as string);
    expect(await middle.verify()).toMatchObject({
      ok: false,
      index: 2,
      id: a[3]?.id,
      reason: "prev-mismatch",
    });

    const end = freshLog();
    const b = await appendSample(end);
    await redis.xdel(end.streamKey, b[4]?.id as string);
    expect(await end.verify()).toMatchObject({ ok: false, index: 4, id: b[3]?.id, reason: "head-mismatch" });
  });

  it("finds an edited entry", async () => {
    const log = freshLog();
    const appended = await appendSample(log);
    // Streams cannot be edited in place: rewrite the whole stream with one event changed.
    await redis.del(log.streamKey);
    for (const e of appended) {
      const text =
        e.id === appended[2]?.id ? e.canonical.replace('"status":"ok"', '"status":"failed"') : e.canonical;
      await redis.xadd(log.streamKey, e.id, "event", text, "prev", e.prev, "hash", e.hash);
    }
    expect(await log.verify()).toMatchObject({
      ok: false,
      index: 2,
      id: appended[2]?.id,
      reason: "hash-mismatch",
    });
  });

  it("refuses to append when the head is gone, and verify reports it", async () => {
    const log = freshLog();
    await appendSample(log);
    await redis.del(log.headKey);
    expect(await log.verify()).toMatchObject({ ok: false, reason: "head-mismatch" });
    // A fresh EventLog has no cached head, as after a restart.
    const again = createEventLog({ redis, prefix: log.streamKey.replace(/:events$/, "") });
    await expect(again.append(requested("2026-01-05T00:00:00Z"))).rejects.toThrow(/is missing while/);
  });

  it("skips unreadable entries when reading and says which", async () => {
    const seen: string[] = [];
    const log = freshLog({ onUnreadable: (id, reason) => seen.push(`${id} ${reason}`) });
    await appendSample(log);
    const id = await redis.xadd(log.streamKey, "*", "event", "{not json", "prev", "x", "hash", "y");
    expect(await log.read()).toHaveLength(5);
    expect(seen).toEqual([`${id} event is not JSON`]);
  });

  it("keeps one chain when two connections append at once", async () => {
    const a = freshLog();
    const b = createEventLog({ redis: other, prefix: a.streamKey.replace(/:events$/, "") });
    const writes = Array.from({ length: 50 }, (_, i) =>
      (i % 2 === 0 ? a : b).append(started(`2026-01-01T08:${String(i).padStart(2, "0")}:00Z`, 100 + i)),
    );
    const stored = await Promise.all(writes);
    expect(new Set(stored.map((s) => s?.id)).size).toBe(50);
    expect(await a.verify()).toMatchObject({ ok: true, count: 50 });
    expect((await a.read()).map((e) => e.event.vmid).sort()).toEqual(
      Array.from({ length: 50 }, (_, i) => 100 + i),
    );
  });
});

describe("consumers", () => {
  it("deliver new events, and re-deliver unacked ones after a restart", async () => {
    const log = freshLog();
    await log.append(requested("2026-01-01T08:00:00Z"));
    const bot = await log.createConsumer({ group: "notify", consumer: "bot" });
    expect(await bot.readNew()).toEqual([]);

    await log.append(started("2026-01-01T08:01:00Z", 101));
    await log.append(result("2026-01-01T08:02:00Z", 101));
    await log.append(started("2026-01-01T08:03:00Z", 102));
    const first = await bot.readNew();
    expect(first.map((e) => e.event.type)).toEqual([
      "migration.started",
      "migration.result",
      "migration.started",
    ]);
    expect(await bot.ack(first[0]?.id as string)).toBe(1);
    expect(await bot.pendingCount()).toBe(2);
    await bot.close(); // crash before posting the other two

    await log.append(result("2026-01-01T08:04:00Z", 102)); // finished while the bot was down
    const restarted = await log.createConsumer({ group: "notify", consumer: "bot" });
    const again = await restarted.readNew();
    expect(again.map((e) => e.id)).toEqual([first[1]?.id, first[2]?.id]);
    await restarted.ack(...again.map((e) => e.id));
    const fresh = await restarted.readNew();
    expect(fresh.map((e) => [e.event.type, e.event.vmid])).toEqual([["migration.result", 102]]);
    await restarted.ack(...fresh.map((e) => e.id));
    expect(await restarted.readNew()).toEqual([]);
    expect(await restarted.pendingCount()).toBe(0);
    await restarted.close();
  });

  it("can start from the beginning of the log", async () => {
    const log = freshLog();
    await appendSample(log);
    const c = await log.createConsumer({ group: "export", consumer: "c1", startAt: "beginning", count: 2 });
    const got = [...(await c.readNew()), ...(await c.readNew()), ...(await c.readNew())];
    expect(got).toHaveLength(5);
    await c.close();
  });

  it("take over what another consumer left unacked", async () => {
    const log = freshLog();
    const dead = await log.createConsumer({ group: "notify", consumer: "bot-old" });
    await log.append(started("2026-01-01T08:01:00Z", 101));
    expect(await dead.readNew()).toHaveLength(1);
    await dead.close();
    const heir = await log.createConsumer({ group: "notify", consumer: "bot-new", claimIdleMs: 0 });
    const claimed = await heir.readNew();
    expect(claimed.map((e) => e.event.vmid)).toEqual([101]);
    await heir.ack(...claimed.map((e) => e.id));
    await heir.close();
  });

  it("wake up on an append while blocked", async () => {
    const log = freshLog();
    const bot = await log.createConsumer({ group: "notify", consumer: "bot" });
    const waiting = bot.readNew(10_000);
    const writer = createEventLog({ redis: other, prefix: log.streamKey.replace(/:events$/, "") });
    await writer.append(result("2026-01-01T08:02:00Z", 101));
    const got = await waiting;
    expect(got.map((e) => e.event.type)).toEqual(["migration.result"]);
    await bot.close();
  });

  it("ack and skip unreadable entries instead of re-delivering them forever", async () => {
    const seen: string[] = [];
    const log = freshLog({ onUnreadable: (id) => seen.push(id) });
    const bot = await log.createConsumer({ group: "notify", consumer: "bot" });
    const junk = await redis.xadd(log.streamKey, "*", "event", '{"type":"nope"}', "prev", "x", "hash", "y");
    expect(await bot.readNew()).toEqual([]);
    expect(seen).toEqual([junk]);
    expect(await bot.pendingCount()).toBe(0);
    await bot.close();
  });
});
