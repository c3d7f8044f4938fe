/**
 * Builds a running worker from the configuration: Redis, the PVE client, the event log, the ports.
 * Shared by `pve-evacuate worker`, `pve-evacuate start` and the demo.
 */
import { hostname } from "node:os";
import type { Worker } from "bullmq";
import type { Redis } from "ioredis";
import { createEventLog, type EventLog } from "../audit/eventLog.ts";
import type { AppConfig } from "../config/schema.ts";
import type { Logger } from "../lib/logger.ts";
import type { PveClient } from "../proxmox/port.ts";
import type { MigrationJobData } from "./jobData.ts";
import type { MigrationResult } from "./migrateVm.ts";
import { preCheckPort, taskFigures } from "./ports.ts";
import { createQosPort } from "./qosPort.ts";
import { createWorker, DEFAULT_WORKER_POLICY, type WorkerPolicy } from "./worker.ts";

export interface WorkerRuntimeOptions {
  config: AppConfig;
  redis: Redis;
  pve: PveClient;
  logger: Logger;
  prefix?: string;
  policy?: Partial<WorkerPolicy>;
  allowLoopbackProbes?: boolean;
  onResult?: (result: MigrationResult, job: MigrationJobData) => void;
}

export interface WorkerRuntime {
  worker: Worker<MigrationJobData, MigrationResult>;
  events: EventLog;
  /** Stops taking jobs; a running migration is handed back (its job stalls and is adopted on restart). */
  close(): Promise<void>;
}

export function startWorkerRuntime(o: WorkerRuntimeOptions): WorkerRuntime {
  const prefix = o.prefix ?? o.config.redisPrefix;
  const events = createEventLog({ redis: o.redis, prefix });
  const policy: WorkerPolicy = {
    ...DEFAULT_WORKER_POLICY,
    onFailure: o.config.migration.onFailure,
    pollIntervalMs: o.config.migration.pollIntervalMs,
    baselineMs: o.config.qos.baselineMs,
    tailMs: o.config.qos.tailMs,
    lockTtlMs: o.config.migration.lockTtlMs,
    stalledIntervalMs: o.config.migration.lockTtlMs,
    haTaskTimeoutMs: o.config.migration.haTaskTimeoutMs,
    ...o.policy,
  };
  const worker = createWorker({
    redis: o.redis,
    prefix,
    pve: o.pve,
    events,
    preCheck: preCheckPort(o.pve, o.config.migration),
    qos: createQosPort({
      pve: o.pve,
      policy: o.config.qos,
      logger: o.logger,
      ...(o.allowLoopbackProbes || o.config.qos.allowLoopback ? { allowLoopback: true } : {}),
    }),
    parseTaskLog: taskFigures,
    policy,
    logger: o.logger,
    workerId: `${hostname()}:${process.pid}`,
    ...(o.onResult ? { onResult: o.onResult } : {}),
  });
  worker.on("failed", (job, err) => o.logger.error({ err, job: job?.id }, "migration job crashed"));
  worker.on("error", (err) => o.logger.error({ err }, "worker error"));
  return {
    worker,
    events,
    close: () => worker.close(),
  };
}
