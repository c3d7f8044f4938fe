/**
 * Prometheus metrics. Counters and histograms are fed one MigrationResult at a time
 * (`recordMigrationResult`); queue depth and running evacuations are read from Redis on each scrape,
 * so they are right even when another process did the work. Durations are exported in seconds and
 * sizes in bytes, as Prometheus names them (the tool itself keeps ms).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { z } from "zod";
import { GRADES } from "../qos/grading.ts";
import type { MigrationResult } from "../worker/migrateVm.ts";

export const METRIC_PREFIX = "pve_evacuate_";

export const MIGRATION_STATUSES = ["succeeded", "failed", "blocked", "cancelled", "skipped"] as const;
export const QUEUE_STATES = ["waiting", "active", "delayed"] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

export interface MetricsSources {
  /** Job counts of the migrations queue (BullMQ getJobCounts), read on each scrape. */
  queueCounts?: () => Promise<Partial<Record<QueueState, number>>>;
  /** Evacuations in state running, read on each scrape. */
  runningEvacuations?: () => Promise<number>;
}

export interface MetricsOptions {
  /** Node.js process metrics (CPU, memory, event loop lag) too. Default false. */
  processMetrics?: boolean;
  /** Called when a scrape-time read fails; that gauge then reads NaN (unknown), never a stale or made-up 0. */
  onCollectError?: (metric: string, error: unknown) => void;
}

export interface OpsMetrics {
  registry: Registry;
  migrations: Counter<"status">;
  pveDowntime: Histogram;
  observedDowntime: Histogram;
  migrationDuration: Histogram;
  transferredBytes: Counter;
  qosGrades: Counter<"metric" | "grade">;
  jobErrors: Counter;
  queueJobs: Gauge<"state">;
  evacuationsRunning: Gauge;
}

/** Sub-second buckets where the grading bands are (100 ms, 300 ms, 1 s), then up to a minute. */
const DOWNTIME_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30, 60];
const DURATION_BUCKETS = [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

export function createMetrics(sources: MetricsSources = {}, options: MetricsOptions = {}): OpsMetrics {
  const registry = new Registry();
  const registers = [registry];
  const report = options.onCollectError ?? (() => {});

  const migrations = new Counter({
    name: `${METRIC_PREFIX}migrations_total`,
    help: "Migrations finished, by outcome",
    labelNames: ["status"] as const,
    registers,
  });
  // Every outcome exists from the start, so rate() works before the first failure.
  for (const status of MIGRATION_STATUSES) migrations.inc({ status }, 0);

  const pveDowntime = new Histogram({
    name: `${METRIC_PREFIX}migration_pve_downtime_seconds`,
    help: "Downtime PVE reports for a live migration (task log), seconds",
    buckets: DOWNTIME_BUCKETS,
    registers,
  });
  const observedDowntime = new Histogram({
    name: `${METRIC_PREFIX}migration_observed_downtime_seconds`,
    help: "Longest outage the QoS probe saw during a migration (client-observed downtime), seconds",
    buckets: DOWNTIME_BUCKETS,
    registers,
  });
  const migrationDuration = new Histogram({
    name: `${METRIC_PREFIX}migration_duration_seconds`,
    help: "Duration of the PVE migration task, seconds",
    buckets: DURATION_BUCKETS,
    registers,
  });
  const transferredBytes = new Counter({
    name: `${METRIC_PREFIX}migration_transferred_bytes_total`,
    help: "VM state transferred by migrations (task log), bytes",
    registers,
  });
  const qosGrades = new Counter({
    name: `${METRIC_PREFIX}qos_grades_total`,
    help: "QoS grades given to migrations, by graded metric and grade",
    labelNames: ["metric", "grade"] as const,
    registers,
  });
  const jobErrors = new Counter({
    name: `${METRIC_PREFIX}job_errors_total`,
    help: "Migration job attempts that ended in an unexpected error (retried by the queue)",
    registers,
  });

  const queueJobs = new Gauge({
    name: `${METRIC_PREFIX}queue_jobs`,
    help: "Jobs in the migrations queue, by state",
    labelNames: ["state"] as const,
    registers,
    async collect() {
      if (!sources.queueCounts) return;
      try {
        const counts = await sources.queueCounts();
        for (const state of QUEUE_STATES) this.set({ state }, counts[state] ?? 0);
      } catch (e) {
        for (const state of QUEUE_STATES) this.set({ state }, Number.NaN);
        report("queue_jobs", e);
      }
    },
  });
  const evacuationsRunning = new Gauge({
    name: `${METRIC_PREFIX}evacuations_running`,
    help: "Evacuations in state running",
    registers,
    async collect() {
      if (!sources.runningEvacuations) return;
      try {
        this.set(await sources.runningEvacuations());
      } catch (e) {
        this.set(Number.NaN);
        report("evacuations_running", e);
      }
    },
  });

  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });

  return {
    registry,
    migrations,
    pveDowntime,
    observedDowntime,
    migrationDuration,
    transferredBytes,
    qosGrades,
    jobErrors,
    queueJobs,
    evacuationsRunning,
  };
}

const GradeEntry = z.object({ grade: z.enum(GRADES) });

export function recordMigrationResult(m: OpsMetrics, result: MigrationResult): void {
  m.migrations.inc({ status: result.status });
  const pve = result.pve;
  if (pve?.downtimeMs !== undefined) m.pveDowntime.observe(pve.downtimeMs / 1000);
  if (pve?.durationMs !== undefined) m.migrationDuration.observe(pve.durationMs / 1000);
  if (pve?.transferredBytes !== undefined && pve.transferredBytes > 0)
    m.transferredBytes.inc(pve.transferredBytes);
  const qos = result.qos;
  if (qos?.measured) {
    if (qos.observedDowntimeMs !== null) m.observedDowntime.observe(qos.observedDowntimeMs / 1000);
    const grades = qos.report.grades;
    if (typeof grades === "object" && grades !== null) {
      for (const [metric, entry] of Object.entries(grades)) {
        const parsed = GradeEntry.safeParse(entry);
        if (parsed.success) m.qosGrades.inc({ metric, grade: parsed.data.grade });
      }
    }
  }
}
