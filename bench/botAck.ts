/**
 * Interaction received → acknowledged: the time from the fake gateway sending INTERACTION_CREATE to
 * the bot's callback arriving at the fake REST server (both stamped on the same clock), through the
 * real discord.js client, the router and Redis. Discord's budget is 3 s. Measured for a deferred
 * command, an autocomplete answered from the cached cluster view, an RBAC refusal, and a burst of
 * commands sent at once. PVE is an in-memory fake here: acks must not depend on it.
 */

import { randomBytes } from "node:crypto";
import { deleteByPrefix } from "../lib/redis.ts";
import type { Benchmark } from "./run.ts";

const N = 200;
const BURST = 50;

function stats(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? 0;
  const r = (v: number) => Math.round(v * 100) / 100;
  return { n: s.length, p50Ms: r(at(50)), p99Ms: r(at(99)), maxMs: r(s.at(-1) ?? 0) };
}

const bench: Benchmark = async () => {
  // vega-lite (the QoS chart, loaded by other benchmarks) sets Set.prototype.toJSON, which breaks
  // discord.js while it loads; load it without that, then put it back.
  const saved = Object.getOwnPropertyDescriptor(Set.prototype, "toJSON");
  if (saved) delete (Set.prototype as { toJSON?: unknown }).toJSON;
  const { createBot } = await import("../bot/createBot.ts");
  if (saved) Object.defineProperty(Set.prototype, "toJSON", saved);
  const { startFakeDiscord } = await import("../bot/fakeDiscord.ts");
  const { createEventLog } = await import("../audit/eventLog.ts");
  const { loadConfig } = await import("../config/load.ts");
  const { createLogger } = await import("../lib/logger.ts");
  const { createRedis } = await import("../lib/redis.ts");
  const { buildClusterData } = await import("../planning/fixtures/build.ts");
  const { fakePveClient } = await import("../planning/fixtures/fakeClient.ts");
  const { createEvacuationQueue } = await import("../worker/queue.ts");

  const ids = {
    app: "510000000000000001",
    guild: "510000000000000002",
    channel: "510000000000000003",
    op: "510000000000000004",
  };
  const token = "bench.bot.token";
  const prefix = `bench-bot-${randomBytes(4).toString("hex")}`;
  const fake = await startFakeDiscord({
    applicationId: ids.app,
    guildId: ids.guild,
    channelIds: [ids.channel],
    roles: [{ id: ids.op, name: "operators" }],
    token,
  });
  const redis = createRedis("redis://127.0.0.1:6379");
  const events = createEventLog({ redis, prefix });
  const queue = createEvacuationQueue({ redis, prefix, events });
  const pve = fakePveClient(
    buildClusterData({
      nodes: Array.from({ length: 8 }, (_, i) => ({ name: `node${i + 1}`, memGiB: 256, usedGiB: 64 })),
      guests: Array.from({ length: 200 }, (_, i) => ({
        vmid: 100 + i,
        node: `node${(i % 8) + 1}`,
        memMiB: 2048,
      })),
    }),
  );
  const config = loadConfig({
    env: {
      REDIS_PREFIX: prefix,
      DISCORD_TOKEN: token,
      DISCORD_APPLICATION_ID: ids.app,
      DISCORD_GUILD_ID: ids.guild,
      DISCORD_CHANNEL_ID: ids.channel,
      DISCORD_OPERATOR_ROLE_IDS: ids.op,
    },
  });
  const bot = createBot({
    config,
    redis,
    pve,
    events,
    queue,
    logger: createLogger({ level: "silent" }),
    restOptions: { api: fake.restApi },
  });
  await bot.start();
  const op = { id: "520000000000000001", username: "op", roles: [ids.op] };
  const nobody = { id: "520000000000000002", username: "nobody", roles: [] };

  async function ackOf(send: () => { id: string; sentAt: number }) {
    const sent = send();
    const ack = await fake.waitFor(() => fake.callbackOf(sent.id), "ack", 10_000);
    return ack.at - sent.sentAt;
  }

  try {
    // Warm-up: first requests open connections and fill the cluster cache.
    for (let i = 0; i < 10; i++) {
      await ackOf(() => fake.command({ user: op, name: "evacuation", subcommand: "status" }));
      await ackOf(() =>
        fake.autocomplete({ user: op, name: "evacuate", options: { node: "" }, focused: "node" }),
      );
    }
    const command: number[] = [];
    const autocomplete: number[] = [];
    const denied: number[] = [];
    for (let i = 0; i < N; i++) {
      command.push(await ackOf(() => fake.command({ user: op, name: "evacuation", subcommand: "status" })));
      autocomplete.push(
        await ackOf(() =>
          fake.autocomplete({
            user: op,
            name: "migrate",
            options: { vm: String(100 + (i % 200)) },
            focused: "vm",
          }),
        ),
      );
      denied.push(
        await ackOf(() => fake.command({ user: nobody, name: "evacuate", options: { node: "node1" } })),
      );
    }
    const burstSent = Array.from({ length: BURST }, () => fake.command({ user: op, name: "nodes" }));
    const burst = await Promise.all(
      burstSent.map(
        async (s) => (await fake.waitFor(() => fake.callbackOf(s.id), "burst ack", 10_000)).at - s.sentAt,
      ),
    );
    return {
      what: "gateway INTERACTION_CREATE sent → interaction callback received (fake Discord, loopback)",
      budgetMs: 3000,
      deferredCommand: stats(command),
      autocompleteFromCache: stats(autocomplete),
      refusal: stats(denied),
      [`burst${BURST}Commands`]: stats(burst),
    };
  } finally {
    await bot.stop();
    await queue.queue.obliterate({ force: true });
    await queue.close();
    await deleteByPrefix(redis, prefix);
    await redis.quit();
    await fake.close();
  }
};

export default bench;
