/**
 * `pve-evacuate bot` (the Discord bot), `pve-evacuate register-commands [--global]` (put the slash
 * commands on Discord) and `pve-evacuate start` (bot and worker in one process). The first SIGINT or
 * SIGTERM stops cleanly (a running migration is finished by the worker, up to 2 min); a second leaves
 * at once. /metrics and /healthz on METRICS_PORT when set.
 */

import type { Command } from "commander";
import { createEventLog } from "../audit/eventLog.ts";
import { createBot, discordConfigOf } from "../bot/createBot.ts";
import { registerCommands } from "../bot/registerCommands.ts";
import { loadConfigFromProcess } from "../config/load.ts";
import { ErrorCodes, PveApiError, UserError } from "../lib/errors.ts";
import { createLogger } from "../lib/logger.ts";
import { createRedis, describeRedisUrl } from "../lib/redis.ts";
import { onShutdown } from "../ops/shutdown.ts";
import { startOpsForBot, startOpsForWorker } from "../ops/startOps.ts";
import { createEvacuationQueue } from "../worker/queue.ts";
import { startWorkerRuntime, type WorkerRuntime } from "../worker/runtime.ts";
import { pveClientFromEnv } from "./connect.ts";
import { errorOutputOf, outputOf, type Register } from "./program.ts";

async function runBot(command: Command, options: { register?: boolean; withWorker: boolean }) {
  const err = errorOutputOf(command);
  const config = loadConfigFromProcess();
  const discord = discordConfigOf(config);
  const logger = createLogger({ level: config.logLevel, name: "pve-evacuate-bot" });
  const pve = pveClientFromEnv();
  // The worker waits out a Redis outage; the bot answers people, so its connection fails fast instead.
  const redis = createRedis(config.redisUrl);
  const botRedis = createRedis(config.redisUrl, { failFast: true });
  const events = createEventLog({ redis: botRedis, prefix: config.redisPrefix });
  const queue = createEvacuationQueue({ redis: botRedis, prefix: config.redisPrefix, events });
  let worker: WorkerRuntime | undefined;
  let bot: ReturnType<typeof createBot> | undefined;
  let ops: Awaited<ReturnType<typeof startOpsForBot>>;
  try {
    if (options.register) {
      const done = await registerCommands({ discord });
      logger.info({ scope: done.scope, commands: done.names }, "slash commands registered");
    }
    if (options.withWorker) {
      worker = startWorkerRuntime({ config, redis, pve, logger });
      await worker.worker.waitUntilReady();
    }
    bot = createBot({ config, redis: botRedis, pve, events, queue, logger });
    await bot.start();
    const started = bot;
    logger.info(
      { redis: describeRedisUrl(config.redisUrl), pve: pve.source, worker: options.withWorker },
      "pve-evacuate running",
    );
    ops = worker
      ? await startOpsForWorker(worker, config, {
          redis,
          logger,
          isDiscordReady: () => started.client.isReady(),
        })
      : await startOpsForBot(config, { redis, logger, isReady: () => started.client.isReady() });
  } catch (e) {
    // A start-up failure (Discord or Redis unreachable, bad token) ends the process instead of leaving
    // it alive with reconnecting clients and no bot.
    await bot?.stop().catch(() => undefined);
    await worker?.worker.close(true).catch(() => undefined);
    redis.disconnect();
    botRedis.disconnect();
    await pve.close();
    if (e instanceof UserError || e instanceof PveApiError) throw e;
    throw new UserError(
      ErrorCodes.StartupFailed,
      `The bot could not start: ${e instanceof Error ? e.message : String(e)}.`,
      "Run `pve-evacuate doctor`: it checks Redis, Proxmox VE and the Discord token from this host.",
    );
  }
  const running = bot;
  err("running; Ctrl-C stops (a running migration is finished first; twice: leave now)\n");
  const shutdown = onShutdown(
    [
      { name: "bot", run: () => running.stop() },
      // Waiting past this hands the running job back: it stalls and the next worker adopts its task.
      ...(worker ? [{ name: "worker", run: () => worker?.close(), timeoutMs: 120_000 }] : []),
      { name: "ops", run: () => ops?.close() },
      { name: "queue", run: () => queue.close() },
      { name: "redis", run: () => Promise.all([redis.quit(), botRedis.quit()]) },
      { name: "pve", run: () => pve.close() },
    ],
    { logger, exitWhenDone: false },
  );
  await shutdown.done;
}

export const register: Register = (program) => {
  program
    .command("bot")
    .description("Run the Discord bot (commands, plan buttons, progress and results in the channel).")
    .option("--register", "register the slash commands on the guild before starting")
    .action(async (opts: { register?: boolean }, command: Command) => {
      await runBot(command, { ...opts, withWorker: false });
    });

  program
    .command("start")
    .description("Run the Discord bot and the migration worker in one process.")
    .option("--register", "register the slash commands on the guild before starting")
    .action(async (opts: { register?: boolean }, command: Command) => {
      await runBot(command, { ...opts, withWorker: true });
    });

  program
    .command("register-commands")
    .description("Register the slash commands on the configured guild, or globally with --global.")
    .option("--global", "register for every server the bot is in (Discord may take up to an hour)")
    .option("--json", "print the result as JSON")
    .action(async (opts: { global?: boolean; json?: boolean }, command: Command) => {
      const out = outputOf(command);
      const discord = discordConfigOf(loadConfigFromProcess());
      const done = await registerCommands({ discord, ...(opts.global ? { global: true } : {}) });
      out(
        opts.json
          ? `${JSON.stringify(done)}\n`
          : `Registered ${done.names.length} command(s) ${done.scope === "guild" ? `on guild ${done.guildId}` : "globally"}: ${done.names.map((n) => `/${n}`).join(", ")}\n`,
      );
    });
};
