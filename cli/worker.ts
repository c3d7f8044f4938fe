/**
 * `pve-evacuate worker`: consumes the `migrations` queue until SIGINT/SIGTERM. The first signal stops
 * taking jobs and lets the running migration finish; a second one leaves at once, and the running job
 * is adopted (never restarted) by the next worker.
 */
import type { Command } from "commander";
import { loadConfigFromProcess } from "../config/load.ts";
import { createLogger } from "../lib/logger.ts";
import { createRedis, describeRedisUrl } from "../lib/redis.ts";
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
      logger.info({ redis: describeRedisUrl(config.redisUrl), pve: pve.source }, "worker ready");

      await new Promise<void>((resolve) => {
        let signals = 0;
        const onSignal = (signal: string) => {
          signals++;
          if (signals === 1) {
            err(`${signal}: finishing the running migration, taking no new ones (again to leave now)\n`);
            runtime.close().then(resolve, resolve);
          } else {
            err(`${signal}: leaving now; the running migration is adopted by the next worker\n`);
            runtime.worker.close(true).then(resolve, resolve);
          }
        };
        process.on("SIGINT", onSignal);
        process.on("SIGTERM", onSignal);
      });
      await redis.quit();
      await pve.close();
    });
};
