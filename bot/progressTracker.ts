/**
 * One live progress message per evacuation, edited in place: only when what it shows changed, and
 * never sooner than `minEditIntervalMs` after the previous edit (Discord allows about 5 edits per 5 s
 * per channel; one every 1.5 s leaves room for results). The message id and what it last showed live
 * in Redis, so a restarted bot keeps editing the same message.
 */
import type { Redis } from "ioredis";
import { z } from "zod";
import { evacuationLabel, progressCard } from "../commands/cards.ts";
import { loadProgressView } from "../commands/progressView.ts";
import type { Logger } from "../lib/logger.ts";
import type { EvacuationQueue } from "../worker/queue.ts";
import { type ChannelPoster, isPermanentDiscordError } from "./channelPoster.ts";

const State = z.object({
  channelId: z.string(),
  messageId: z.string(),
  shown: z.string(),
  editedAt: z.number(),
});
type State = z.infer<typeof State>;

export interface ProgressTracker {
  /** Posts the progress message unless it exists (idempotent). */
  start(evacuationId: string): Promise<void>;
  /** One pass over the tracked evacuations: edits what changed and may be edited now. */
  tick(): Promise<void>;
  tracked(): Promise<string[]>;
  messageOf(evacuationId: string): Promise<{ channelId: string; messageId: string } | undefined>;
  /** Ticks every `tickMs` until stop(). */
  run(tickMs?: number): void;
  stop(): Promise<void>;
}

/** Pure: may the message be edited now to show `next`? */
export function shouldEdit(
  state: Pick<State, "shown" | "editedAt">,
  next: string,
  now: number,
  minIntervalMs: number,
) {
  return next !== state.shown && now - state.editedAt >= minIntervalMs;
}

export function createProgressTracker(o: {
  redis: Redis;
  prefix: string;
  queue: EvacuationQueue;
  poster: ChannelPoster;
  channelId: string;
  notifyRoleId?: string;
  logger: Logger;
  minEditIntervalMs?: number;
  now?: () => number;
}): ProgressTracker {
  const minInterval = o.minEditIntervalMs ?? 1500;
  const now = o.now ?? Date.now;
  const setKey = `${o.prefix}:discord:progress`;
  const stateKey = (id: string) => `${o.prefix}:discord:progress:${id}`;
  const log = o.logger.child({ component: "progress" });
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  async function load(id: string): Promise<State | undefined> {
    const raw = await o.redis.get(stateKey(id));
    return raw ? State.parse(JSON.parse(raw)) : undefined;
  }
  const save = (id: string, s: State) => o.redis.set(stateKey(id), JSON.stringify(s), "EX", 30 * 24 * 3600);

  async function tickOne(id: string) {
    const state = await load(id);
    const view = await loadProgressView(o.queue, id);
    if (!state || !view) {
      await o.redis.srem(setKey, id);
      return;
    }
    const card = progressCard(view);
    const shown = JSON.stringify(card);
    const ended = view.status !== "running" && view.items.every((i) => i.state === "done");
    if (shown === state.shown) {
      if (ended) await o.redis.srem(setKey, id);
      return;
    }
    if (!shouldEdit(state, shown, now(), minInterval)) return;
    try {
      await o.poster.edit(state.channelId, state.messageId, { cards: [card] });
    } catch (e) {
      if (!isPermanentDiscordError(e)) throw e;
      // Deleted message or lost access: stop editing it (each refusal counts against Discord's limit).
      log.warn({ err: e, evacuationId: id }, "progress message can no longer be edited; dropping it");
      await o.redis.srem(setKey, id);
      return;
    }
    await save(id, { ...state, shown, editedAt: now() });
  }

  const tracker: ProgressTracker = {
    async start(id) {
      if (await load(id)) return;
      const view = await loadProgressView(o.queue, id);
      if (!view) return;
      const card = progressCard(view);
      const text = `${evacuationLabel(view.kind, view.source)} started by ${view.requestedBy ?? "someone"}: ${view.total} migration(s), one at a time.`;
      const messageId = await o.poster.post(o.channelId, {
        text,
        cards: [card],
        ...(o.notifyRoleId ? { mentionRoleId: o.notifyRoleId } : {}),
      });
      await save(id, { channelId: o.channelId, messageId, shown: JSON.stringify(card), editedAt: now() });
      await o.redis.sadd(setKey, id);
    },
    async tick() {
      for (const id of await o.redis.smembers(setKey)) {
        try {
          await tickOne(id);
        } catch (e) {
          log.warn({ err: e, evacuationId: id }, "progress update failed; retrying on the next tick");
        }
      }
    },
    tracked: () => o.redis.smembers(setKey),
    async messageOf(id) {
      const s = await load(id);
      return s ? { channelId: s.channelId, messageId: s.messageId } : undefined;
    },
    run(tickMs = 500) {
      if (timer) return;
      timer = setInterval(() => {
        if (running) return;
        running = tracker
          .tick()
          .catch((e) => log.warn({ err: e }, "progress tick failed; next tick retries"))
          .finally(() => {
            running = undefined;
          });
      }, tickMs);
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await running;
    },
  };
  return tracker;
}
