/**
 * `pve-evacuate worker`: consumes the `migrations` queue until SIGINT/SIGTERM. The first signal stops
 * taking jobs and lets the running migration finish (up to 2 min); a second one leaves at once. Either
 * way a job left behind is adopted (never restarted) by the next worker. Serves /metrics and /healthz
 * on METRICS_PORT when set.
 */
import type { Command } from "commander";
import { loadConfigFromProcess } from "../config/load.ts";
import { createLogger } from "../lib/logger.ts";
import { createRedis, describeRedisUrl } from "../lib/redis.ts";
import { onShutdown } from "../ops/shutdown.ts";
import { startOpsForWorker } from "../ops/startOps.ts";
import { startWorkerRuntime } from "../worker/runtime.ts";
import { pveClientFromEnv } from "./connect.ts";
import { errorOutputOf, type Register } from "./program.ts";

export const register: Register = (program) => {
  program
    .command("worker")
    .description("Run the migration worker (one migration at a time across all workers).")
    .action(async (_opts: unknown, command: Command) => {
      const err = errorOutputOf(command);
      const config = loadConfigFromProcess();
      const logger = createLogger({ level: config.logLevel, name: "pve-evacuate-worker" });
      const pve = pveClientFromEnv();
      const redis = createRedis(config.redisUrl);
      const runtime = startWorkerRuntime({ config, redis, pve, logger });
      await runtime.worker.waitUntilReady();
      await startOpsForWorker(runtime, config, { redis, logger });
      logger.info({ redis: describeRedisUrl(config.redisUrl), pve: pve.source }, "worker ready");
      err(
        "worker ready; Ctrl-C finishes the running migration and stops (twice: leave now, it is adopted later)\n",
      );
      const shutdown = onShutdown(
        [
          // Waiting past this hands the running job back: it stalls and the next worker adopts its task.
          { name: "worker", run: () => runtime.close(), timeoutMs: 120_000 },
          { name: "redis", run: () => redis.quit() },
          { name: "pve", run: () => pve.close() },
        ],
        { logger, exitWhenDone: false },
      );
      await shutdown.done;
    });
};
