import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEventLog, type EventLog } from "../audit/eventLog.ts";
import type { ChatMessage } from "../commands/chatPort.ts";
import { createLogger } from "../lib/logger.ts";
import { createRedis, deleteByPrefix } from "../lib/redis.ts";
import { createEvacuationQueue, type EvacuationQueue } from "../worker/queue.ts";
import type { ChannelPoster } from "./channelPoster.ts";
import { createEventNotifier } from "./eventNotifier.ts";
import { createProgressTracker } from "./progressTracker.ts";

const prefix = `test-notifier-${randomBytes(4).toString("hex")}`;
const logger = createLogger({ level: "silent" });
let redis: Redis;
let events: EventLog;
let queue: EvacuationQueue;

beforeAll(() => {
  redis = createRedis("redis://127.0.0.1:6379");
  events = createEventLog({ redis, prefix });
  queue = createEvacuationQueue({ redis, prefix, events });
});
afterAll(async () => {
  await queue.queue.obliterate({ force: true });
  await queue.close();
  await deleteByPrefix(redis, prefix);
  await redis.quit();
});

function recorder() {
  const posts: ChatMessage[] = [];
  const poster: ChannelPoster = {
    async post(_channel, message) {
      posts.push(message);
      return String(posts.length);
    },
    async edit() {},
  };
  return { posts, poster };
}

async function until(probe: () => boolean, what: string) {
  for (let i = 0; i < 300 && !probe(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!probe()) throw new Error(`timed out waiting for ${what}`);
}

describe("the event-log notifier", () => {
  it("announces an evacuation once, and sums it up when a cancel ends it without the worker", async () => {
    const { posts, poster } = recorder();
    const progress = createProgressTracker({
      redis,
      prefix,
      queue,
      poster,
      channelId: "c",
      logger,
      notifyRoleId: "r",
    });
    const notifier = createEventNotifier({
      events,
      queue,
      redis,
      prefix,
      poster,
      progress,
      channelId: "c",
      notifyRoleId: "r",
      logger,
      blockMs: 50,
    });
    await notifier.start();
    try {
      const move = { type: "qemu" as const, memoryBytes: 1, mode: "live" as const, withLocalDisks: false };
      const actor = { kind: "cli" as const, id: "ops" };
      const record = await queue.enqueue({
        source: "node7",
        kind: "evacuate",
        moves: [
          { ...move, vmid: 701, name: "a", target: "node8" },
          { ...move, vmid: 702, name: "b", target: "node8" },
        ],
        requestedBy: actor,
      });
      await queue.cancel({ evacuationId: record.id, abortRunning: false, by: actor, pve: {} as never });
      await until(() => posts.length >= 2, "the summary");
      expect(posts.map((p) => [p.text, p.cards?.[0]?.title, p.mentionRoleId])).toEqual([
        [
          "Evacuation of node7 started by ops: 2 migration(s), one at a time.",
          "Evacuation of node7: running",
          "r",
        ],
        [undefined, "Evacuation of node7 cancelled: 0 moved, 2 cancelled", "r"],
      ]);
      expect(posts[1]?.cards?.[0]?.fields).toContainEqual({ name: "Cancelled", value: "cancelled by ops" });
    } finally {
      await notifier.stop();
    }
  });

  it("posts a result from the event itself when the stored one never shows up, and mentions failures", async () => {
    const { posts, poster } = recorder();
    const progress = createProgressTracker({ redis, prefix, queue, poster, channelId: "c", logger });
    const notifier = createEventNotifier({
      events,
      queue,
      redis,
      prefix,
      poster,
      progress,
      channelId: "c",
      notifyRoleId: "r",
      logger,
      blockMs: 50,
      resultWaitMs: 50,
    });
    await notifier.start();
    try {
      await events.append({
        type: "migration.result",
        actor: { kind: "worker", id: "w" },
        evacuationId: "ev-unknown",
        node: "node1",
        vmid: 901,
        target: "node2",
        status: "failed",
        pve: { durationMs: 3000, downtimeMs: 20 },
        error: { code: "FAILED", message: "task ended with migration problems" },
      });
      await until(() => posts.length >= 1, "the result");
      expect(posts[0]).toMatchObject({ text: "VM 901 failed.", mentionRoleId: "r" });
      expect(posts[0]?.cards?.[0]).toMatchObject({
        title: "❌ VM 901 (VM 901) node1 → node2: FAILED",
        lines: ["Reason: task ended with migration problems"],
      });
    } finally {
      await notifier.stop();
    }
  });
});
