/**
 * The BullMQ consumer: strictly one migration at a time (worker concurrency 1, queue global
 * concurrency 1, and our own Redis lock), each job run through migrateVm, every state change and
 * result appended to the event log, stop-on-failure applied across the evacuation.
 */
import { DelayedError, type Job, UnrecoverableError, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { userMessage } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import type { PveClient } from "../proxmox/port.ts";
import { createEvacuationStore } from "./evacuationStore.ts";
import { MigrationJobData } from "./jobData.ts";
import { type MigrateVmDeps, type MigrationResult, migrateVm } from "./migrateVm.ts";
import { createMigrationLock } from "./migrationLock.ts";
import { TERMINAL_STATES } from "./migrationState.ts";
import { type EventSink, jobIdFor, QUEUE_NAME } from "./queue.ts";

export interface WorkerPolicy {
  onFailure: "stop" | "continue";
  pollIntervalMs: number;
  baselineMs: number;
  tailMs: number;
  haTaskTimeoutMs: number;
  /** How long the migration lock lives without renewal; a dead worker's lock frees itself after it. */
  lockTtlMs: number;
  /** BullMQ: how often stalled jobs (their worker died) are looked for, and their lock duration. */
  stalledIntervalMs: number;
}

export const DEFAULT_WORKER_POLICY: WorkerPolicy = {
  onFailure: "stop",
  pollIntervalMs: 1000,
  baselineMs: 2000,
  tailMs: 2000,
  haTaskTimeoutMs: 60_000,
  lockTtlMs: 30_000,
  stalledIntervalMs: 30_000,
};

export interface CreateWorkerDeps {
  redis: Redis;
  prefix: string;
  pve: PveClient;
  events: EventSink;
  preCheck: MigrateVmDeps["preCheck"];
  qos: MigrateVmDeps["qos"];
  parseTaskLog: MigrateVmDeps["parseTaskLog"];
  policy: WorkerPolicy;
  logger: Logger;
  workerId: string;
  /** Called with each finished VM (the CLI prints it; tests collect it). */
  onResult?: (result: MigrationResult, job: MigrationJobData) => void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function auditStatus(status: MigrationResult["status"]): "ok" | "failed" | "aborted" {
  if (status === "succeeded") return "ok";
  if (status === "failed" || status === "blocked") return "failed";
  return "aborted";
}

export function createWorker(deps: CreateWorkerDeps): Worker<MigrationJobData, MigrationResult> {
  const store = createEvacuationStore(deps.redis, deps.prefix);
  const lock = createMigrationLock(deps.redis, `${deps.prefix}:migration-lock`, deps.policy.lockTtlMs);
  const actor = { kind: "worker" as const, id: deps.workerId };
  const log = deps.logger.child({ component: "worker", workerId: deps.workerId });

  /** Charts are binary and large: they live in their own key (a week), results keep the key. */
  async function storeChart(result: MigrationResult, key: string): Promise<MigrationResult> {
    const qos = result.qos;
    if (!qos?.measured || !qos.chartPng) return result;
    const { chartPng, ...rest } = qos;
    await deps.redis.set(key, Buffer.from(chartPng), "EX", 7 * 24 * 3600);
    return { ...result, qos: { ...rest, chartKey: key } };
  }

  /**
   * Stop-on-failure, the stored result, the audit events. Idempotent per VM, so a job re-run after a
   * crash (or reported by the failed-job handler) never counts twice.
   */
  async function report(data: MigrationJobData, stored: MigrationResult): Promise<MigrationResult> {
    const ctx = { actor, evacuationId: data.evacuationId, node: data.source, vmid: data.vmid };
    // A task stopped by `cancel --abort-running` fails in PVE's words; for the operator it was a cancel.
    const record = await store.get(data.evacuationId);
    const result: MigrationResult =
      stored.status === "failed" && record?.status === "cancelled"
        ? {
            ...stored,
            status: "cancelled",
            error: `${record.stopReason ?? "cancelled"}: ${stored.error ?? "task stopped"}`,
          }
        : stored;

    if ((result.status === "failed" || result.status === "blocked") && deps.policy.onFailure === "stop") {
      await store.halt(
        data.evacuationId,
        "stopped",
        `VM ${data.vmid} (${data.name}) ${result.status}: ${result.error ?? ""}`.trim(),
      );
    }
    // Stored before it is announced: whoever reacts to the event finds the full result.
    const { record: ended, done } = await store.recordResult(data.evacuationId, result);
    await deps.events.append({
      ...ctx,
      type: "migration.result",
      status: auditStatus(result.status),
      target: result.target,
      ...(result.upid ? { upid: result.upid } : {}),
      ...(result.pve
        ? {
            pve: {
              ...(result.pve.durationMs !== undefined ? { durationMs: result.pve.durationMs } : {}),
              ...(result.pve.downtimeMs !== undefined ? { downtimeMs: result.pve.downtimeMs } : {}),
              ...(result.pve.transferredBytes !== undefined
                ? { transferredBytes: result.pve.transferredBytes }
                : {}),
              ...(result.pve.totalBytes !== undefined ? { totalBytes: result.pve.totalBytes } : {}),
              ...(result.pve.averageSpeedBytesPerSecond !== undefined
                ? { averageSpeed: result.pve.averageSpeedBytesPerSecond }
                : {}),
            },
          }
        : {}),
      ...(result.qos?.measured
        ? {
            qos: {
              ...(result.qos.observedDowntimeMs !== null
                ? { observedDowntimeMs: Math.round(result.qos.observedDowntimeMs) }
                : {}),
              ...(result.qos.summary
                ? {
                    loss: result.qos.summary.lossPct / 100,
                    ...(result.qos.summary.delayMs !== undefined
                      ? { delayMs: result.qos.summary.delayMs }
                      : {}),
                    ...(result.qos.summary.jitterMs !== undefined
                      ? { jitterMs: result.qos.summary.jitterMs }
                      : {}),
                    grades: result.qos.summary.grades,
                  }
                : {}),
              method: result.qos.method,
              address: result.qos.address,
            },
          }
        : {}),
      ...(result.error
        ? {
            error: {
              code: result.status === "blocked" ? "PRECHECK_FAILED" : result.status.toUpperCase(),
              message: result.error,
            },
          }
        : {}),
    });

    if (done) {
      const results = await store.results(data.evacuationId);
      const count = (s: MigrationResult["status"]) => results.filter((r) => r.status === s).length;
      await deps.events.append({
        actor,
        evacuationId: ended.id,
        node: ended.source,
        type: "evacuation.finished",
        status:
          ended.status === "finished"
            ? count("failed") + count("blocked") > 0
              ? "failed"
              : "completed"
            : ended.status === "cancelled"
              ? "cancelled"
              : "stopped",
        summary: {
          moved: count("succeeded"),
          failed: count("failed"),
          skipped: count("skipped") + count("cancelled"),
          blocked: count("blocked"),
        },
      });
    }
    return result;
  }

  async function process(
    job: Job<MigrationJobData, MigrationResult>,
    token?: string,
  ): Promise<MigrationResult> {
    const parsed = MigrationJobData.safeParse(job.data);
    if (!parsed.success) {
      throw new UnrecoverableError(
        `job ${job.id} carries invalid data: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
      );
    }
    let data = parsed.data;
    const owner = job.id ?? jobIdFor(data.evacuationId, data.vmid);
    if (!(await lock.acquire(owner))) {
      // Another worker migrates right now (BullMQ's own limit let two jobs through): come back later.
      log.warn({ job: owner, holder: await lock.holder() }, "migration lock held elsewhere; delaying job");
      await job.moveToDelayed(Date.now() + 2000, token);
      throw new DelayedError();
    }
    const renew = setInterval(
      () => {
        lock.renew(owner).catch((e) => log.error({ err: e }, "lock renewal failed"));
      },
      Math.max(100, Math.floor(deps.policy.lockTtlMs / 3)),
    );
    const ctx = { actor, evacuationId: data.evacuationId, node: data.source, vmid: data.vmid };
    try {
      // Reported already, then the worker died before BullMQ heard of it: hand back the same result.
      const already = TERMINAL_STATES.has(data.step)
        ? (await store.results(data.evacuationId)).find((r) => r.vmid === data.vmid)
        : undefined;
      if (already) return await report(data, already);
      const raw = await migrateVm(data, {
        pve: deps.pve,
        preCheck: async (j) => {
          const items = await deps.preCheck(j);
          await deps.events.append({ ...ctx, type: "precheck.result", target: j.target, items });
          return items;
        },
        qos: deps.qos,
        parseTaskLog: deps.parseTaskLog,
        persist: async (patch) => {
          data = { ...data, ...patch };
          await job.updateData(data);
        },
        onState: async (from, to, j, detail) => {
          log.info({ vmid: j.vmid, from, to, detail }, "migration state");
          await deps.events.append({
            ...ctx,
            type: "migration.state",
            from,
            to,
            ...(j.upid ? { upid: j.upid } : {}),
            ...(detail ? { step: detail } : {}),
          });
          if (to === "migrating" && j.upid) {
            await deps.events.append({ ...ctx, type: "migration.started", upid: j.upid, target: j.target });
          }
        },
        onProgress: (p) => {
          job.updateProgress({ ...p }).catch((e) => log.warn({ err: e }, "progress update failed"));
        },
        shouldStop: async () => {
          const record = await store.get(data.evacuationId);
          if (!record || record.status === "running" || record.status === "finished") return undefined;
          return record.stopReason ?? `evacuation ${record.status}`;
        },
        sleep,
        now: () => Date.now(),
        policy: deps.policy,
      });
      const stored = await storeChart(raw, `${deps.prefix}:chart:${data.evacuationId}:${data.vmid}`);
      const result = await report(data, stored);
      deps.onResult?.(result, data);
      return result;
    } catch (e) {
      // The last attempt still gets a result, before the job fails: its evacuation ends, stop-on-failure
      // applies to the next job and the node is freed.
      if (!(e instanceof DelayedError) && job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) {
        await report(data, {
          vmid: data.vmid,
          name: data.name,
          source: data.source,
          target: data.target,
          status: "failed",
          ...(data.upid ? { upid: data.upid } : {}),
          error: `the worker gave up after ${job.attemptsMade + 1} attempt(s): ${userMessage(e)}${data.upid ? `; check task ${data.upid} in PVE` : ""}`,
        });
      }
      throw e;
    } finally {
      clearInterval(renew);
      await lock.release(owner);
    }
  }

  return new Worker<MigrationJobData, MigrationResult>(QUEUE_NAME, process, {
    connection: deps.redis,
    prefix: deps.prefix,
    concurrency: 1,
    lockDuration: deps.policy.stalledIntervalMs,
    stalledInterval: deps.policy.stalledIntervalMs,
    // A killed worker's job comes back (and adopts its task) instead of failing for having stalled.
    maxStalledCount: 10,
  });
}
