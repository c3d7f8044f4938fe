/**
 * Orchestration overhead of an evacuation on the lab: wall time of the whole evacuation divided by the
 * sum of the PVE task durations (what PVE itself spends migrating), and PVE API requests per
 * migration-minute. QoS probing is off so the figure is the worker's own cost (probes add their
 * configured baseline + tail on purpose). Env: BENCH_WORKER_VMS (20), BENCH_WORKER_TIME_SCALE (1).
 */

import { randomBytes } from "node:crypto";
import { createEventLog } from "../audit/eventLog.ts";
import { followEvacuation } from "../cli/evacuate.ts";
import { loadConfig } from "../config/load.ts";
import { LabClusterBuilder } from "../lab/generate.ts";
import { labPveClient } from "../lab/labClient.ts";
import { startLab } from "../lab/server.ts";
import { createLogger } from "../lib/logger.ts";
import { createRedis, deleteByPrefix } from "../lib/redis.ts";
import { planForNode } from "../planning/planForNode.ts";
import type { PveClient } from "../proxmox/port.ts";
import { createEvacuationQueue } from "../worker/queue.ts";
import { startWorkerRuntime } from "../worker/runtime.ts";
import type { Benchmark } from "./run.ts";

/** Counts calls per PveClient method (each is one API request; GET retries would add more). */
function counting(client: PveClient): { client: PveClient; counts: Record<string, number> } {
  const counts: Record<string, number> = {};
  const wrapped = new Proxy(client, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        counts[String(prop)] = (counts[String(prop)] ?? 0) + 1;
        return value.apply(target, args);
      };
    },
  });
  return { client: wrapped, counts };
}

const bench: Benchmark = async () => {
  const vms = Number(process.env.BENCH_WORKER_VMS ?? 20);
  const timeScale = Number(process.env.BENCH_WORKER_TIME_SCALE ?? 1);
  const builder = new LabClusterBuilder({ nodes: 3, seed: 3, nodeMemoryGiB: 256 });
  for (let i = 0; i < vms; i++) builder.vm(1001 + i, { node: "node1", workload: "idle", memoryGiB: 1 });
  const lab = await startLab({ port: 0, cluster: builder.build(), timeScale, authFailureDelayMs: 0 });
  const http = labPveClient(lab);
  const { client: pve, counts } = counting(http);
  const redis = createRedis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  const prefix = `bench-worker-${randomBytes(4).toString("hex")}`;
  const config = loadConfig({
    env: { QOS_METHOD: "none", REDIS_PREFIX: prefix, MIGRATION_HEADROOM_BYTES: "0" },
  });
  const logger = createLogger({ level: "silent" });
  const runtime = startWorkerRuntime({ config, redis, pve, logger });
  const queue = createEvacuationQueue({ redis, prefix, events: createEventLog({ redis, prefix }) });
  try {
    const plan = await planForNode(pve, { source: "node1" }, config.migration);
    for (const k of Object.keys(counts)) delete counts[k];
    const started = Date.now();
    const record = await queue.enqueue({
      source: "node1",
      kind: "evacuate",
      moves: plan.moves,
      requestedBy: { kind: "cli", id: "bench" },
    });
    const results = await followEvacuation(queue, record.id, {}, 50);
    const wallMs = Date.now() - started;
    const truths = lab.groundTruth();
    const taskMs = truths.reduce((sum, t) => sum + ((t.taskEndEpochMs ?? 0) - (t.taskStartEpochMs ?? 0)), 0);
    const requests = Object.values(counts).reduce((a, b) => a + b, 0);
    return {
      vms,
      timeScale,
      pollIntervalMs: config.migration.pollIntervalMs,
      succeeded: results.filter((r) => r.status === "succeeded").length,
      wallMs,
      sumOfPveTaskMs: taskMs,
      overhead: Number((wallMs / taskMs).toFixed(4)),
      goal: "overhead <= 1.05 with 20 small VMs",
      overheadPerMigrationMs: Math.round((wallMs - taskMs) / vms),
      apiRequests: requests,
      apiRequestsPerMigrationMinute: Number((requests / (taskMs / 60_000)).toFixed(1)),
      apiRequestsByMethod: counts,
    };
  } finally {
    await runtime.close();
    await queue.queue.obliterate({ force: true });
    await queue.close();
    await deleteByPrefix(redis, prefix);
    await redis.quit();
    await http.close();
    await lab.close();
  }
};

export default bench;
