/**
 * The glue that gives a long-running process its /metrics and /healthz on METRICS_PORT: the worker
 * (metrics from its job events, health = Redis answers and the worker runs) and the bot (health =
 * Redis answers and the Discord client is ready). Nothing starts when METRICS_PORT is unset.
 */
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { AppConfig } from "../config/schema.ts";
import type { Logger } from "../lib/logger.ts";
import { createEvacuationStore } from "../worker/evacuationStore.ts";
import { QUEUE_NAME } from "../worker/queue.ts";
import type { WorkerRuntime } from "../worker/runtime.ts";
import { createMetrics, type OpsMetrics } from "./metrics.ts";
import { type HealthCheckResult, type OpsServer, runHealthChecks, startOpsServer } from "./opsServer.ts";
import { wireWorkerMetrics } from "./wireWorkerMetrics.ts";

export interface OpsDeps {
  /** A connection the process already has; ops only reads through it and never closes it. */
  redis: Redis;
  logger: Logger;
  /** Overrides METRICS_PORT (tests use 0). */
  port?: number;
  host?: string;
}

export interface RunningOps {
  server: OpsServer;
  metrics: OpsMetrics;
  close(): Promise<void>;
}

export async function redisHealth(redis: Redis): Promise<HealthCheckResult> {
  // With maxRetriesPerRequest null a command waits for the reconnect; the status answers at once.
  if (redis.status !== "ready") return { ok: false, detail: `connection ${redis.status}` };
  const pong = await redis.ping();
  return pong === "PONG" ? { ok: true } : { ok: false, detail: `PING answered ${pong}` };
}

async function startOps(
  config: AppConfig,
  deps: OpsDeps,
  name: string,
  checks: Record<string, () => Promise<HealthCheckResult>>,
): Promise<{ server: OpsServer; metrics: OpsMetrics; queue: Queue }> {
  const port = deps.port ?? config.metricsPort;
  if (port === undefined) throw new Error("startOps: no port");
  const queue = new Queue(QUEUE_NAME, { connection: deps.redis, prefix: config.redisPrefix });
  const store = createEvacuationStore(deps.redis, config.redisPrefix);
  const metrics = createMetrics(
    {
      queueCounts: () => queue.getJobCounts(...(["waiting", "active", "delayed"] as const)),
      runningEvacuations: async () => (await store.open()).length,
    },
    {
      processMetrics: true,
      onCollectError: (metric, err) => deps.logger.warn({ err, metric }, "metrics: cannot read from Redis"),
    },
  );
  const server = await startOpsServer({
    port,
    ...(deps.host !== undefined ? { host: deps.host } : {}),
    registry: metrics.registry,
    health: () => runHealthChecks(checks),
  });
  deps.logger.info({ port: server.port }, `${name}: /metrics and /healthz listening`);
  return { server, metrics, queue };
}

/**
 * For `pve-evacuate worker`: `await startOpsForWorker(runtime, config, { redis, logger });` after the
 * runtime starts. Closes itself when the worker closes; undefined when METRICS_PORT is unset.
 */
export async function startOpsForWorker(
  runtime: Pick<WorkerRuntime, "worker">,
  config: AppConfig,
  deps: OpsDeps & { isDiscordReady?: () => boolean },
): Promise<RunningOps | undefined> {
  if (deps.port === undefined && config.metricsPort === undefined) return undefined;
  const { isDiscordReady } = deps;
  const { server, metrics, queue } = await startOps(config, deps, "worker", {
    redis: () => redisHealth(deps.redis),
    worker: async () =>
      runtime.worker.isRunning() ? { ok: true } : { ok: false, detail: "the worker is not taking jobs" },
    // `pve-evacuate start` runs the bot in the same process: its gateway connection counts too.
    ...(isDiscordReady
      ? {
          discord: async () =>
            isDiscordReady() ? { ok: true } : { ok: false, detail: "not connected to the Discord gateway" },
        }
      : {}),
  });
  const unwire = wireWorkerMetrics(runtime.worker, metrics);
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      unwire();
      await server.close();
      await queue.close();
    })();
    return closing;
  };
  runtime.worker.once("closed", () => {
    close().catch((err: unknown) => deps.logger.warn({ err }, "ops: close failed"));
  });
  return { server, metrics, close };
}

/** For `pve-evacuate bot`: `isReady` is the Discord client's `isReady()`. */
export async function startOpsForBot(
  config: AppConfig,
  deps: OpsDeps & { isReady: () => boolean },
): Promise<RunningOps | undefined> {
  if (deps.port === undefined && config.metricsPort === undefined) return undefined;
  const { server, metrics, queue } = await startOps(config, deps, "bot", {
    redis: () => redisHealth(deps.redis),
    discord: async () =>
      deps.isReady() ? { ok: true } : { ok: false, detail: "not connected to the Discord gateway" },
  });
  let closing: Promise<void> | undefined;
  return {
    server,
    metrics,
    close() {
      closing ??= (async () => {
        await server.close();
        await queue.close();
      })();
      return closing;
    },
  };
}
