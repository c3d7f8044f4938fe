/**
 * The producer side of the `migrations` queue: turn a confirmed plan into ordered per-VM jobs, report
 * what runs and waits, and cancel. Used by the CLI and the bot; the worker process consumes the jobs.
 */
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { AuditEventInput } from "../audit/events.ts";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import type { PveClient } from "../proxmox/port.ts";
import { parseUpid } from "../proxmox/upid.ts";
import { createEvacuationStore, type EvacuationRecord, type EvacuationStore } from "./evacuationStore.ts";
import type { Actor, MigrationJobData, MigrationJobInput } from "./jobData.ts";

export const QUEUE_NAME = "migrations";

export interface EventSink {
  append(event: AuditEventInput): Promise<unknown>;
}

export interface PlannedMove {
  vmid: number;
  name: string;
  type: "qemu" | "lxc";
  target: string;
  memoryBytes: number;
  mode: "live" | "offline" | "restart";
  withLocalDisks: boolean;
}

export interface QueueDeps {
  /** A connection with maxRetriesPerRequest: null, as BullMQ requires. */
  redis: Redis;
  prefix: string;
  events: EventSink;
  /** Tries per job before it is reported failed (default 5, backing off from 5 s). */
  attempts?: number;
  backoffMs?: number;
}

export interface EvacuationQueue {
  store: EvacuationStore;
  queue: Queue<MigrationJobData>;
  enqueue(input: {
    source: string;
    kind: EvacuationRecord["kind"];
    moves: readonly PlannedMove[];
    requestedBy: Actor;
  }): Promise<EvacuationRecord>;
  status(): Promise<EvacuationStatusView[]>;
  cancel(input: {
    evacuationId?: string;
    abortRunning: boolean;
    by: Actor;
    pve: PveClient;
  }): Promise<CancelOutcome>;
  close(): Promise<void>;
}

export interface EvacuationStatusView {
  record: EvacuationRecord;
  running?: { vmid: number; name: string; target: string; step: string; upid?: string };
  waiting: { vmid: number; name: string; target: string }[];
  done: { vmid: number; status: string }[];
}

export interface CancelOutcome {
  evacuationId: string;
  removed: number[];
  aborted?: { vmid: number; upid: string };
  /** Running migration left alone because abortRunning was not asked. */
  leftRunning?: { vmid: number; upid?: string };
}

export function jobIdFor(evacuationId: string, vmid: number): string {
  // BullMQ refuses ':' in custom ids.
  return `${evacuationId}-${vmid}`;
}

export function createEvacuationQueue(deps: QueueDeps): EvacuationQueue {
  const queue = new Queue<MigrationJobData>(QUEUE_NAME, { connection: deps.redis, prefix: deps.prefix });
  // Redis errors surface through the failing calls below; BullMQ would otherwise print each one.
  queue.on("error", () => {});
  const store = createEvacuationStore(deps.redis, deps.prefix);

  async function jobsOf(evacuationId: string, states: ("active" | "waiting" | "delayed" | "prioritized")[]) {
    const jobs = await queue.getJobs(states, 0, 1000, true);
    return jobs.filter((j) => j?.data?.evacuationId === evacuationId);
  }

  return {
    store,
    queue,
    async enqueue({ source, kind, moves, requestedBy }) {
      if (moves.length === 0) throw new Error("enqueue called with an empty plan");
      await queue.setGlobalConcurrency(1);
      const record = await store.create({
        source,
        kind,
        requestedBy,
        total: moves.length,
        vmids: moves.map((m) => m.vmid),
      });
      const jobs = moves.map((m, i) => {
        const data: MigrationJobInput = {
          evacuationId: record.id,
          vmid: m.vmid,
          name: m.name,
          type: m.type,
          source,
          target: m.target,
          mode: m.mode,
          memoryBytes: m.memoryBytes,
          order: i,
          of: moves.length,
          withLocalDisks: m.withLocalDisks,
          requestedBy,
          step: "queued",
        };
        return {
          name: "migrate",
          data: data as MigrationJobData,
          opts: {
            jobId: jobIdFor(record.id, m.vmid),
            // Retries re-enter the runner, which adopts a started task instead of POSTing again.
            attempts: deps.attempts ?? 5,
            backoff: { type: "exponential", delay: deps.backoffMs ?? 5000 },
            removeOnComplete: { age: 7 * 24 * 3600 },
            removeOnFail: { age: 30 * 24 * 3600 },
          },
        };
      });
      try {
        await queue.addBulk(jobs);
      } catch (e) {
        // Nothing was queued: give the node back rather than leave it "being evacuated" forever.
        await store.halt(record.id, "cancelled", "the jobs could not be queued");
        await store.release(record.id);
        throw e;
      }
      for (const [i, m] of moves.entries()) {
        await deps.events.append({
          type: "migration.queued",
          actor: requestedBy,
          evacuationId: record.id,
          node: source,
          vmid: m.vmid,
          target: m.target,
          position: i + 1,
          jobId: jobIdFor(record.id, m.vmid),
        });
      }
      return record;
    },

    async status() {
      const open = await store.open();
      const views: EvacuationStatusView[] = [];
      for (const record of open) {
        const active = await jobsOf(record.id, ["active"]);
        const waiting = await jobsOf(record.id, ["waiting", "delayed", "prioritized"]);
        const results = await store.results(record.id);
        const run = active[0];
        views.push({
          record,
          ...(run
            ? {
                running: {
                  vmid: run.data.vmid,
                  name: run.data.name,
                  target: run.data.target,
                  step: run.data.step,
                  ...(run.data.upid ? { upid: run.data.upid } : {}),
                },
              }
            : {}),
          waiting: waiting
            .sort((a, b) => a.data.order - b.data.order)
            .map((j) => ({ vmid: j.data.vmid, name: j.data.name, target: j.data.target })),
          done: results.map((r) => ({ vmid: r.vmid, status: r.status })),
        });
      }
      return views;
    },

    async cancel({ evacuationId, abortRunning, by, pve }) {
      const open = await store.open();
      const record = evacuationId ? open.find((r) => r.id === evacuationId) : open[0];
      if (!record) {
        throw new UserError(
          ErrorCodes.InvalidInput,
          evacuationId ? `No running evacuation ${evacuationId}.` : "No evacuation is running.",
        );
      }
      await store.halt(record.id, "cancelled", `cancelled by ${by.name ?? by.id}`);
      const removed: number[] = [];
      const waiting = await jobsOf(record.id, ["waiting", "delayed", "prioritized"]);
      // A job between retries may already have a PVE task: it is running, not waiting.
      const inFlight = waiting.filter((j) => j.data.upid !== undefined || j.data.haUpid !== undefined);
      for (const job of waiting.filter((j) => !inFlight.includes(j))) {
        try {
          await job.remove();
          removed.push(job.data.vmid);
          await store.recordResult(record.id, {
            vmid: job.data.vmid,
            name: job.data.name,
            source: job.data.source,
            target: job.data.target,
            status: "cancelled",
            error: `cancelled by ${by.name ?? by.id} before it started`,
          });
        } catch {
          // Picked up by a worker meanwhile: it sees the cancelled evacuation before calling PVE.
        }
      }
      const outcome: CancelOutcome = { evacuationId: record.id, removed };
      const [running] = [...(await jobsOf(record.id, ["active"])), ...inFlight];
      if (running) {
        // An HA guest's real task may not be known yet; stopping the hamigrate is the next best thing.
        const upid = running.data.upid ?? running.data.haUpid;
        if (abortRunning && upid) {
          await pve.stopTask(parseUpid(upid).node, upid);
          outcome.aborted = { vmid: running.data.vmid, upid };
        } else {
          outcome.leftRunning = { vmid: running.data.vmid, ...(upid ? { upid } : {}) };
        }
      }
      await deps.events.append({
        type: "evacuation.cancelled",
        actor: by,
        evacuationId: record.id,
        node: record.source,
        abortRunning,
        reason: `removed ${removed.length} waiting; ${outcome.aborted ? `aborted VM ${outcome.aborted.vmid}` : outcome.leftRunning ? `VM ${outcome.leftRunning.vmid} left to finish` : "nothing running"}`,
      });
      return outcome;
    },

    async close() {
      await queue.close();
    },
  };
}
