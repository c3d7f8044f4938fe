/**
 * Posts what the worker did to the channel, as a consumer (group `discord-notifier`) of the event log:
 * a result finished while the bot was down is still posted when it comes back, because an event is
 * acknowledged only after its message went out. Delivery is at least once: a crash between posting
 * and acknowledging posts that message again.
 */

import type { Redis } from "ioredis";
import type { EventConsumer, EventLog } from "../audit/eventLog.ts";
import type { AuditEvent } from "../audit/events.ts";
import { resultCard, summaryCard } from "../commands/cards.ts";
import type { Logger } from "../lib/logger.ts";
import type { MigrationResult } from "../worker/migrateVm.ts";
import type { EvacuationQueue } from "../worker/queue.ts";
import type { ChannelPoster } from "./channelPoster.ts";
import { isPermanentDiscordError } from "./channelPoster.ts";
import type { ProgressTracker } from "./progressTracker.ts";

export const NOTIFIER_GROUP = "discord-notifier";

export interface EventNotifier {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface EventNotifierOptions {
  events: EventLog;
  queue: EvacuationQueue;
  redis: Redis;
  prefix: string;
  poster: ChannelPoster;
  progress: ProgressTracker;
  channelId: string;
  notifyRoleId?: string;
  logger: Logger;
  /** Consumer name: stable per bot, so its unacknowledged events come back to it after a restart. */
  consumer?: string;
  blockMs?: number;
  /** How long to wait for the worker to store a result after announcing it. */
  resultWaitMs?: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

class StoppingError extends Error {}

type ResultEvent = Extract<AuditEvent, { type: "migration.result" }>;

/** When the stored result cannot be had, the event carries enough for a card. */
export function resultFromEvent(e: ResultEvent): MigrationResult {
  const status = e.status === "ok" ? "succeeded" : e.status === "failed" ? "failed" : "cancelled";
  const result: MigrationResult = {
    vmid: e.vmid ?? 0,
    name: `VM ${e.vmid ?? "?"}`,
    source: e.node ?? "?",
    target: e.target ?? "?",
    status,
  };
  if (e.upid) result.upid = e.upid;
  if (e.error) result.error = e.error.message;
  if (e.pve)
    result.pve = {
      status: status === "succeeded" ? "completed" : "failed",
      durationMs: e.pve.durationMs,
      downtimeMs: e.pve.downtimeMs,
      transferredBytes: e.pve.transferredBytes,
      totalBytes: e.pve.totalBytes,
      averageSpeedBytesPerSecond: e.pve.averageSpeed,
    };
  if (e.qos) {
    const report = typeof e.qos.report === "object" && e.qos.report !== null ? e.qos.report : {};
    result.qos = {
      measured: true,
      method: "probe",
      address: "unknown",
      observedDowntimeMs: e.qos.observedDowntimeMs ?? null,
      report: report as Record<string, unknown>,
    };
  }
  return result;
}

export function createEventNotifier(o: EventNotifierOptions): EventNotifier {
  const log = o.logger.child({ component: "notifier" });
  let stopping = false;
  let loop: Promise<void> | undefined;
  let consumer: EventConsumer | undefined;
  const mention = o.notifyRoleId ? { mentionRoleId: o.notifyRoleId } : {};

  async function storedResult(e: ResultEvent): Promise<MigrationResult> {
    // The worker announces a result just before it stores it.
    const deadline = Date.now() + (o.resultWaitMs ?? 5000);
    for (;;) {
      if (e.evacuationId && e.vmid !== undefined) {
        const found = (await o.queue.store.results(e.evacuationId)).find((r) => r.vmid === e.vmid);
        if (found) return found;
      }
      // Stopping: leave the event unacknowledged for the next start rather than post a thinner card.
      if (stopping) throw new StoppingError();
      if (Date.now() >= deadline) return resultFromEvent(e);
      await sleep(100);
    }
  }

  /** Once per evacuation, whichever event ends it (the key also guards a redelivered event). */
  async function postSummary(id: string) {
    const record = await o.queue.store.get(id);
    if (!record) return;
    const key = `${o.prefix}:discord:summary:${id}`;
    if ((await o.redis.set(key, "1", "EX", 30 * 24 * 3600, "NX")) === null) return;
    try {
      const results = await o.queue.store.results(id);
      await o.poster.post(o.channelId, { cards: [summaryCard(record, results)], ...mention });
    } catch (e) {
      await o.redis.del(key);
      throw e;
    }
  }

  async function handle(event: AuditEvent) {
    const id = event.evacuationId;
    if (!id) return;
    switch (event.type) {
      case "migration.queued":
      case "evacuation.confirmed":
      case "migration.state":
      case "migration.started":
        await o.progress.start(id);
        return;
      case "migration.result": {
        // The result card matters more than the progress message: a failure there must not block it.
        await o.progress
          .start(id)
          .catch((e) => log.warn({ err: e, evacuationId: id }, "progress message failed"));
        const result = await storedResult(event);
        const key = result.qos?.measured ? result.qos.chartKey : undefined;
        const chart = key ? await o.redis.getBuffer(key) : null;
        const failed = result.status === "failed" || result.status === "blocked";
        await o.poster.post(o.channelId, {
          cards: [resultCard(result, chart ? { chart } : {})],
          ...(failed ? { ...mention, text: `VM ${result.vmid} ${result.status}.` } : {}),
        });
        return;
      }
      case "evacuation.finished":
        await postSummary(id);
        return;
      case "evacuation.cancelled": {
        // Cancelling what had not started ends the evacuation without a worker, so without
        // `evacuation.finished`; a migration left running ends it later, through the worker.
        const record = await o.queue.store.get(id);
        if (record && record.status !== "running" && (await o.queue.store.results(id)).length >= record.total)
          await postSummary(id);
        return;
      }
      default:
        return;
    }
  }

  async function run(c: EventConsumer) {
    while (!stopping) {
      let batch: Awaited<ReturnType<EventConsumer["readNew"]>>;
      try {
        batch = await c.readNew(o.blockMs ?? 1000);
      } catch (e) {
        if (stopping) return;
        log.error({ err: e }, "reading the event log failed; retrying");
        await sleep(1000);
        continue;
      }
      for (const stored of batch) {
        for (let attempt = 1; !stopping; attempt++) {
          try {
            await handle(stored.event);
            await c.ack(stored.id);
            break;
          } catch (e) {
            if (e instanceof StoppingError) return;
            if (isPermanentDiscordError(e)) {
              // Discord will refuse this one forever (no access, unknown channel): skip it, so the
              // events behind it are still posted.
              log.error(
                { err: e, event: stored.id, type: stored.event.type },
                "Discord refused the post; skipping it",
              );
              await c.ack(stored.id);
              break;
            }
            // Not acknowledged: retried here, and after a restart if we stop first.
            log.warn(
              { err: e, event: stored.id, type: stored.event.type, attempt },
              "posting failed; retrying",
            );
            await sleep(Math.min(5000, 250 * 2 ** attempt));
          }
        }
        if (stopping) return;
      }
    }
  }

  return {
    async start() {
      if (loop) return;
      stopping = false;
      consumer = await o.events.createConsumer({ group: NOTIFIER_GROUP, consumer: o.consumer ?? "bot" });
      const c = consumer;
      loop = run(c).catch((e) => log.error({ err: e }, "notifier stopped"));
    },
    async stop() {
      stopping = true;
      await loop;
      loop = undefined;
      await consumer?.close();
      consumer = undefined;
    },
  };
}
