/** Builds what every command handler gets, from the pieces a process already has (bot, terminal, demo). */
import type { Redis } from "ioredis";
import type { EventLog } from "../audit/eventLog.ts";
import type { AppConfig } from "../config/schema.ts";
import type { Logger } from "../lib/logger.ts";
import type { PveClient } from "../proxmox/port.ts";
import type { EvacuationQueue } from "../worker/queue.ts";
import { type ClusterCache, createClusterCache } from "./clusterCache.ts";
import type { CommandDeps } from "./command.ts";
import { createPendingPlans } from "./pendingPlans.ts";

export function createCommandDeps(o: {
  config: AppConfig;
  redis: Redis;
  pve: PveClient;
  events: EventLog;
  queue: EvacuationQueue;
  logger: Logger;
  /** Redis key prefix; default config.redisPrefix. */
  prefix?: string;
  cluster?: ClusterCache;
}): CommandDeps {
  return {
    config: o.config,
    pve: o.pve,
    queue: o.queue,
    events: o.events,
    plans: createPendingPlans({
      redis: o.redis,
      prefix: o.prefix ?? o.config.redisPrefix,
      ttlMs: o.config.migration.planTtlMs,
    }),
    cluster:
      o.cluster ??
      createClusterCache({
        pve: o.pve,
        onError: (e) => o.logger.warn({ err: e }, "cluster view refresh failed"),
      }),
    logger: o.logger,
  };
}
