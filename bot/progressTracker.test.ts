import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEventLog } from "../audit/eventLog.ts";
import type { ChatMessage } from "../commands/chatPort.ts";
import { createLogger } from "../lib/logger.ts";
import { createRedis, deleteByPrefix } from "../lib/redis.ts";
import { createEvacuationQueue, type EvacuationQueue, jobIdFor } from "../worker/queue.ts";
import type { ChannelPoster } from "./channelPoster.ts";
import { createProgressTracker, shouldEdit } from "./progressTracker.ts";

const prefix = `test-progress-${randomBytes(4).toString("hex")}`;
let redis: Redis;
let queue: EvacuationQueue;

beforeAll(() => {
  redis = createRedis("redis://127.0.0.1:6379");
  queue = createEvacuationQueue({ redis, prefix, events: createEventLog({ redis, prefix }) });
});
afterAll(async () => {
  await queue.queue.obliterate({ force: true });
  await queue.close();
  await deleteByPrefix(redis, prefix);
  await redis.quit();
});

describe("shouldEdit", () => {
  it("edits only what changed, and not sooner than the interval", () => {
    expect(shouldEdit({ shown: "a", editedAt: 0 }, "a", 10_000, 1500)).toBe(false);
    expect(shouldEdit({ shown: "a", editedAt: 0 }, "b", 1499, 1500)).toBe(false);
    expect(shouldEdit({ shown: "a", editedAt: 0 }, "b", 1500, 1500)).toBe(true);
  });
});

describe("the progress tracker", () => {
  it("posts one message, edits it on change at most every interval, and lets go once the evacuation ended", async () => {
    const posts: { channelId: string; message: ChatMessage }[] = [];
    const edits: { at: number; message: ChatMessage }[] = [];
    let clock = 0;
    const poster: ChannelPoster = {
      async post(channelId, message) {
        posts.push({ channelId, message });
        return "m1";
      },
      async edit(_channelId, _messageId, message) {
        edits.push({ at: clock, message });
      },
    };
    const tracker = createProgressTracker({
      redis,
      prefix,
      queue,
      poster,
      channelId: "chan",
      notifyRoleId: "role",
      logger: createLogger({ level: "silent" }),
      minEditIntervalMs: 1500,
      now: () => clock,
    });
    const move = { type: "qemu" as const, memoryBytes: 1024, mode: "live" as const, withLocalDisks: false };
    const record = await queue.enqueue({
      source: "node1",
      kind: "evacuate",
      moves: [
        { ...move, vmid: 101, name: "web", target: "node2" },
        { ...move, vmid: 102, name: "db", target: "node3" },
      ],
      requestedBy: { kind: "discord", id: "1", name: "alice" },
    });
    await tracker.start(record.id);
    await tracker.start(record.id);
    expect(posts).toHaveLength(1);
    expect(posts[0]?.message).toMatchObject({
      text: "Evacuation of node1 started by alice: 2 migration(s), one at a time.",
      mentionRoleId: "role",
    });
    expect(await tracker.messageOf(record.id)).toEqual({ channelId: "chan", messageId: "m1" });

    clock = 2000;
    await tracker.tick();
    expect(edits).toHaveLength(0);

    const job = await queue.queue.getJob(jobIdFor(record.id, 101));
    await job?.updateData({ ...job.data, step: "migrating" });
    await job?.updateProgress({ transferredBytes: 512, totalBytes: 1024 });
    clock = 2100;
    await tracker.tick();
    expect(edits.map((e) => e.at)).toEqual([2100]);
    expect(edits[0]?.message.cards?.[0]?.lines?.[1]).toBe(
      "▶ VM 101 web → node2: migrating [#####-----]  50%",
    );

    await queue.store.recordResult(record.id, {
      vmid: 101,
      name: "web",
      source: "node1",
      target: "node2",
      status: "succeeded",
    });
    clock = 3000;
    await tracker.tick();
    expect(edits).toHaveLength(1);
    clock = 3600;
    await tracker.tick();
    await tracker.tick();
    expect(edits.map((e) => e.at)).toEqual([2100, 3600]);

    await queue.store.recordResult(record.id, {
      vmid: 102,
      name: "db",
      source: "node1",
      target: "node3",
      status: "succeeded",
    });
    clock = 5100;
    await tracker.tick();
    expect(edits.at(-1)?.message.cards?.[0]?.title).toBe("Evacuation of node1: finished");
    expect(await tracker.tracked()).toEqual([record.id]);
    await tracker.tick();
    expect(await tracker.tracked()).toEqual([]);
    expect(edits).toHaveLength(3);
  });
});
