/**
 * Feeds the metrics from a BullMQ Worker's events, so the worker code needs no metrics calls: each
 * completed job's return value is its MigrationResult; a failed attempt is an unexpected error (a
 * migration that failed in PVE still completes, with status "failed").
 */
import type { Worker } from "bullmq";
import type { MigrationJobData } from "../worker/jobData.ts";
import type { MigrationResult } from "../worker/migrateVm.ts";
import { type OpsMetrics, recordMigrationResult } from "./metrics.ts";

/** Returns a function that detaches the listeners. */
export function wireWorkerMetrics(
  worker: Worker<MigrationJobData, MigrationResult>,
  metrics: OpsMetrics,
): () => void {
  const onCompleted = (_job: unknown, result: MigrationResult) => {
    if (typeof result === "object" && result !== null && typeof result.status === "string") {
      recordMigrationResult(metrics, result);
    }
  };
  const onFailed = () => metrics.jobErrors.inc();
  worker.on("completed", onCompleted);
  worker.on("failed", onFailed);
  return () => {
    worker.off("completed", onCompleted);
    worker.off("failed", onFailed);
  };
}
