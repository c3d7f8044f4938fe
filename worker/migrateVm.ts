/**
 * Runs one VM's migration through the state machine: pre-checks → baseline probe → POST migrate →
 * save UPID → follow the task → parse the log → probe tail → verify → result.
 * Everything outside (PVE, probes, pre-checks, persistence, events) is injected, so this file holds the
 * order of things and the crash rules, and the BullMQ adapter holds none of them.
 */
import { ErrorCodes, PveApiError, userMessage } from "../lib/errors.ts";
import type { PveClient } from "../proxmox/port.ts";
import { parseUpid } from "../proxmox/upid.ts";
import type { MigrationJobData } from "./jobData.ts";
import {
  decideRecovery,
  type MigrationEvent,
  type MigrationState,
  TERMINAL_STATES,
  transition,
} from "./migrationState.ts";

export interface PreCheckItem {
  name: string;
  status: "pass" | "warn" | "fail";
  reason: string;
}

/** The figures the worker keeps from a parsed task log (a subset of the parser's report). */
export interface TaskFigures {
  status: "completed" | "failed" | "aborted" | "running";
  durationMs?: number | undefined;
  downtimeMs?: number | undefined;
  transferredBytes?: number | undefined;
  totalBytes?: number | undefined;
  averageSpeedBytesPerSecond?: number | undefined;
  error?: string | undefined;
}

export interface QosSession {
  markMigrationStart(): void;
  markMigrationEnd(): void;
  /** `migration`: PVE's own figures, so time and data are graded on what PVE did, not on probe windows. */
  finish(migration?: {
    durationMs?: number;
    transferredBytes?: number;
    memoryBytes?: number;
  }): Promise<QosOutcome>;
}

export type QosOutcome =
  | {
      measured: true;
      method: string;
      address: string;
      observedDowntimeMs: number | null;
      /** The headline figures of the migration window (the whole stream when it has no window). */
      summary?: { lossPct: number; delayMs?: number; jitterMs?: number; grades: Record<string, string> };
      /** Per-window metrics and grades, as the QoS module reports them. */
      report: Record<string, unknown>;
      /** Only in memory: the worker moves it to Redis and keeps `chartKey` in what it stores. */
      chartPng?: Uint8Array;
      chartKey?: string;
    }
  | { measured: false; reason: string };

export interface MigrationProgress {
  vmid: number;
  state: MigrationState;
  transferredBytes?: number;
  totalBytes?: number;
  upid?: string;
}

export interface MigrationResult {
  vmid: number;
  name: string;
  source: string;
  target: string;
  status: "succeeded" | "failed" | "blocked" | "cancelled" | "skipped";
  upid?: string;
  error?: string;
  checklist?: PreCheckItem[];
  pve?: TaskFigures;
  qos?: QosOutcome;
  /** True when this run took over a task that an earlier (crashed) worker had started. */
  adopted?: boolean;
}

export interface MigrateVmDeps {
  pve: PveClient;
  preCheck(job: MigrationJobData): Promise<PreCheckItem[]>;
  qos: { start(job: MigrationJobData): Promise<QosSession | { notMeasured: string }> };
  parseTaskLog(lines: string[], ctx: { upid: string }): TaskFigures;
  /** Persists the job's data (BullMQ job.updateData); awaited before the next side effect. */
  persist(patch: Partial<MigrationJobData>): Promise<void>;
  onState(from: MigrationState, to: MigrationState, job: MigrationJobData, detail?: string): Promise<void>;
  onProgress(progress: MigrationProgress): void;
  /** Asked between steps; true when the evacuation was cancelled or stopped before PVE took the VM. */
  shouldStop(): Promise<string | undefined>;
  sleep(ms: number): Promise<void>;
  now(): number;
  policy: { pollIntervalMs: number; baselineMs: number; tailMs: number; haTaskTimeoutMs: number };
}

const MIGRATION_TASK_TYPES = new Set(["qmigrate", "hamigrate", "vzmigrate"]);

/**
 * Runs (or resumes) one VM's migration. A probe thread started here is always stopped, even when an
 * error escapes (the job is then retried and resumes from its saved step).
 */
export async function migrateVm(initial: MigrationJobData, deps: MigrateVmDeps): Promise<MigrationResult> {
  let openProbe: QosSession | undefined;
  const qos: MigrateVmDeps["qos"] = {
    async start(job) {
      const started = await deps.qos.start(job);
      if ("notMeasured" in started) return started;
      openProbe = started;
      return {
        markMigrationStart: () => started.markMigrationStart(),
        markMigrationEnd: () => started.markMigrationEnd(),
        finish: (migration) => {
          openProbe = undefined;
          return started.finish(migration);
        },
      };
    },
  };
  try {
    return await runMigration(initial, { ...deps, qos });
  } catch (e) {
    await openProbe?.finish().catch(() => undefined);
    throw e;
  }
}

async function runMigration(initial: MigrationJobData, deps: MigrateVmDeps): Promise<MigrationResult> {
  let job = { ...initial };
  const base = { vmid: job.vmid, name: job.name, source: job.source, target: job.target };

  // Ended before the worker that ran it could report (it died in between): report, never run again.
  if (TERMINAL_STATES.has(job.step)) {
    const status = job.step as MigrationResult["status"];
    return {
      ...base,
      status,
      ...(job.upid ? { upid: job.upid } : {}),
      ...(status === "succeeded"
        ? {}
        : { error: `ended ${status} before a worker restart; details are in the audit log` }),
    };
  }

  const move = async (event: MigrationEvent, patch: Partial<MigrationJobData> = {}, detail?: string) => {
    const from = job.step;
    const to = transition(from, event);
    job = { ...job, ...patch, step: to };
    await deps.persist({ ...patch, step: to });
    await deps.onState(from, to, job, detail);
    return to;
  };

  // Never started and the evacuation is over: skip without asking PVE anything.
  if (job.step === "queued") {
    const stopReason = await deps.shouldStop();
    if (stopReason) {
      await move({ type: "skip", reason: stopReason }, {}, stopReason);
      return { ...base, status: "skipped", error: stopReason };
    }
  }
  const recovery = await recoveryDecision(job, deps.pve);
  if (recovery.kind === "refuse") {
    // Whatever step the job was saved in, nothing was asked of PVE: record it as a failed pre-check.
    if (job.step !== "prechecking") {
      job = { ...job, step: "prechecking" };
      await deps.persist({ step: "prechecking" });
    }
    await move({ type: "prechecks-failed", reason: recovery.reason }, {}, recovery.reason);
    return { ...base, status: "blocked", error: recovery.reason };
  }
  if (recovery.kind === "already-on-target") {
    return {
      ...base,
      status: "succeeded",
      adopted: true,
      error: "finished while no worker watched; no PVE figures",
    };
  }
  if (recovery.kind === "adopt") {
    return follow(recovery.upid, undefined, true);
  }

  // Fresh: a job that crashed before asking PVE restarts from the top; pre-checks are cheap and current.
  if (job.step !== "queued") {
    job = { ...job, step: "queued" };
    await deps.persist({ step: "queued" });
  }
  const stopReason = await deps.shouldStop();
  if (stopReason) {
    await move({ type: "skip", reason: stopReason }, {}, stopReason);
    return { ...base, status: "skipped", error: stopReason };
  }
  await move({ type: "start" });
  const checklist = await deps.preCheck(job);
  const failed = checklist.filter((c) => c.status === "fail");
  if (failed.length > 0) {
    const reason = failed.map((c) => `${c.name}: ${c.reason}`).join("; ");
    await move({ type: "prechecks-failed", reason }, {}, reason);
    return { ...base, status: "blocked", checklist, error: reason };
  }
  await move({ type: "prechecks-passed" });

  const probe = await deps.qos.start(job);
  const session = "notMeasured" in probe ? undefined : probe;
  const notMeasured: QosOutcome | undefined =
    "notMeasured" in probe ? { measured: false, reason: probe.notMeasured } : undefined;
  if (session) await deps.sleep(deps.policy.baselineMs);

  const cancelReason = await deps.shouldStop();
  if (cancelReason) {
    await move({ type: "cancel" }, {}, cancelReason);
    const qos = session ? await session.finish() : notMeasured;
    return { ...base, status: "cancelled", error: cancelReason, checklist, ...(qos ? { qos } : {}) };
  }
  await move({ type: "baseline-done" }, { requestedAtEpochMs: deps.now() });

  let upid: string;
  session?.markMigrationStart();
  try {
    upid = await deps.pve.startMigration({
      node: job.source,
      type: job.type,
      vmid: job.vmid,
      target: job.target,
      ...(job.mode === "live" ? { online: true } : {}),
      ...(job.mode === "restart" ? { restart: true } : {}),
      ...(job.withLocalDisks ? { withLocalDisks: true } : {}),
    });
  } catch (e) {
    if (e instanceof PveApiError && e.code === ErrorCodes.MigrateNotRetried) {
      // The request may have reached PVE: look for the task before calling it a failure.
      const again = await recoveryDecision(job, deps.pve);
      if (again.kind === "adopt") return follow(again.upid, session ?? notMeasured, false, checklist);
    }
    const reason = userMessage(e);
    session?.markMigrationEnd();
    await move({ type: "request-failed", reason }, {}, reason);
    const qos = session ? await session.finish() : notMeasured;
    return { ...base, status: "failed", error: reason, checklist, ...(qos ? { qos } : {}) };
  }
  const isHa = parseUpid(upid).type === "hamigrate";
  // The UPID is saved before anything else is awaited: after a crash it is how we find this task again.
  await move(
    { type: "task-accepted", upid, ha: isHa },
    isHa ? { haUpid: upid } : { upid },
    isHa ? `HA request ${upid}` : upid,
  );
  return follow(upid, session ?? notMeasured, false, checklist);

  async function follow(
    startUpid: string,
    qosIn: QosSession | QosOutcome | undefined,
    adopted: boolean,
    checks?: PreCheckItem[],
  ): Promise<MigrationResult> {
    let current = startUpid;
    const qosSession = qosIn && "finish" in qosIn ? qosIn : undefined;
    let qosOutcome = qosIn && !("finish" in qosIn) ? qosIn : undefined;
    if (adopted && !qosSession && !qosOutcome) {
      qosOutcome = {
        measured: false,
        reason: "the worker restarted during this migration; no baseline was taken",
      };
    }
    const extra = () => ({
      ...(checks ? { checklist: checks } : {}),
      ...(adopted ? { adopted: true } : {}),
    });

    /** HA refused, or its real task never showed: the VM never left; close the probe and report. */
    const haFailed = async (event: MigrationEvent, reason: string): Promise<MigrationResult> => {
      qosSession?.markMigrationEnd();
      if (job.step === "ha-requested") await move(event, {}, reason);
      const qos = qosSession ? await qosSession.finish() : qosOutcome;
      return { ...base, status: "failed", upid: current, error: reason, ...(qos ? { qos } : {}), ...extra() };
    };

    if (parseUpid(current).type === "hamigrate") {
      if (job.step === "requesting")
        await move({ type: "task-accepted", upid: current, ha: true }, { haUpid: current });
      else if (job.step !== "ha-requested") {
        // Adopted (e.g. HA started it for maintenance): align the saved step, run nothing again.
        job = { ...job, step: "ha-requested", haUpid: current };
        await deps.persist({ step: "ha-requested", haUpid: current });
      }
      const ha = await waitForTask(current);
      if (ha.exitstatus !== "OK") {
        const lines = await readWholeLog(current);
        const reason = `HA refused the migration: ${lines.filter((l) => l !== "TASK OK").join(" ") || ha.exitstatus}`;
        return haFailed({ type: "task-ended", ok: false, exitStatus: ha.exitstatus ?? "" }, reason);
      }
      const real = await findHaMigrationTask(parseUpid(current).starttime);
      if (!real) {
        const reason = `HA accepted the request but no qmigrate task of VM ${job.vmid} appeared on ${job.source} within ${Math.round(deps.policy.haTaskTimeoutMs / 1000)} s (the token needs Sys.Audit on /nodes/${job.source} to see it)`;
        return haFailed({ type: "request-failed", reason }, reason);
      }
      current = real;
      if (job.step === "ha-requested")
        await move({ type: "ha-task-found", upid: real }, { upid: real }, real);
    } else if (job.step !== "migrating") {
      // Adopted from an earlier step: bring the saved state in line without re-running anything.
      job = { ...job, step: "migrating", upid: current };
      await deps.persist({ step: "migrating", upid: current });
    }

    const lines: string[] = [];
    const taskNode = parseUpid(current).node;
    let status = await deps.pve.taskStatus(taskNode, current);
    for (;;) {
      const page = await deps.pve.taskLog(taskNode, current, { start: lines.length, limit: 500 });
      for (const l of page.lines) if (l.t !== "no content") lines.push(l.t);
      const soFar = deps.parseTaskLog(lines, { upid: current });
      deps.onProgress({
        vmid: job.vmid,
        state: "migrating",
        upid: current,
        ...(soFar.transferredBytes !== undefined ? { transferredBytes: soFar.transferredBytes } : {}),
        ...(soFar.totalBytes !== undefined ? { totalBytes: soFar.totalBytes } : {}),
      });
      if (status.status === "stopped" && page.lines.length < 500) break;
      // Once QEMU reported its downtime only the short cleanup phase is left: look more often, so the
      // next VM does not wait up to a whole poll interval for this task's end.
      const nearEnd = soFar.downtimeMs !== undefined;
      if (status.status !== "stopped") {
        await deps.sleep(nearEnd ? Math.min(250, deps.policy.pollIntervalMs) : deps.policy.pollIntervalMs);
      }
      status = await deps.pve.taskStatus(taskNode, current);
    }
    qosSession?.markMigrationEnd();
    const figures = deps.parseTaskLog(lines, { upid: current });
    const ok = status.exitstatus === "OK" || (status.exitstatus ?? "").startsWith("WARNINGS");
    await move({ type: "task-ended", ok, exitStatus: status.exitstatus ?? "" }, {}, status.exitstatus);

    if (qosSession) await deps.sleep(deps.policy.tailMs);
    const qos = qosSession
      ? await qosSession.finish({
          ...(figures.durationMs !== undefined ? { durationMs: figures.durationMs } : {}),
          ...(figures.transferredBytes !== undefined ? { transferredBytes: figures.transferredBytes } : {}),
          ...(job.memoryBytes > 0 ? { memoryBytes: job.memoryBytes } : {}),
        })
      : qosOutcome;
    await move({ type: "finished" });

    const where = await locate();
    if (!ok) {
      const reason = figures.error ?? `task ended with ${status.exitstatus ?? "no exit status"}`;
      const stayed = where.node === job.source ? `; VM ${job.vmid} is still on ${job.source}` : "";
      await move({ type: "verify-failed", reason }, {}, reason);
      return {
        ...base,
        status: "failed",
        upid: current,
        error: `${reason}${stayed}`,
        pve: figures,
        ...(qos ? { qos } : {}),
        ...extra(),
      };
    }
    const mustRun = job.mode !== "offline";
    if (where.node !== job.target || (mustRun && where.status !== "running")) {
      const reason = `PVE reported success but VM ${job.vmid} is ${where.status ?? "missing"} on ${where.node ?? "no node"}, not running on ${job.target}`;
      await move({ type: "verify-failed", reason }, {}, reason);
      return {
        ...base,
        status: "failed",
        upid: current,
        error: reason,
        pve: figures,
        ...(qos ? { qos } : {}),
        ...extra(),
      };
    }
    await move({ type: "verified" });
    return { ...base, status: "succeeded", upid: current, pve: figures, ...(qos ? { qos } : {}), ...extra() };
  }

  async function waitForTask(upid: string) {
    const node = parseUpid(upid).node;
    for (;;) {
      const s = await deps.pve.taskStatus(node, upid);
      if (s.status === "stopped") return s;
      await deps.sleep(deps.policy.pollIntervalMs);
    }
  }

  async function readWholeLog(upid: string): Promise<string[]> {
    const page = await deps.pve.taskLog(parseUpid(upid).node, upid, { start: 0, limit: 0 });
    return page.lines.map((l) => l.t);
  }

  async function findHaMigrationTask(sinceEpochS: number): Promise<string | undefined> {
    const deadline = deps.now() + deps.policy.haTaskTimeoutMs;
    while (deps.now() <= deadline) {
      const tasks = await deps.pve.nodeTasks(job.source, {
        vmid: job.vmid,
        typefilter: "qmigrate",
        source: "all",
        since: sinceEpochS,
      });
      const found = tasks
        .filter((t) => t.type === "qmigrate" && t.starttime >= sinceEpochS)
        .sort((a, b) => b.starttime - a.starttime)[0];
      if (found) return found.upid;
      await deps.sleep(deps.policy.pollIntervalMs);
    }
    return undefined;
  }

  async function locate(): Promise<{ node?: string; status?: string }> {
    const resources = await deps.pve.clusterResources("vm");
    const vm = resources.find((r) => r.vmid === job.vmid);
    return { ...(vm?.node ? { node: vm.node } : {}), ...(vm?.status ? { status: vm.status } : {}) };
  }
}

/** PVE lists a task still running without an end time (and, depending on the version, without a status). */
function isRunning(t: { status?: string | undefined; endtime?: number | undefined }): boolean {
  return t.endtime === undefined && (t.status === undefined || /^running$/i.test(t.status));
}

async function recoveryDecision(job: MigrationJobData, pve: PveClient) {
  const resources = await pve.clusterResources("vm");
  const vm = resources.find((r) => r.vmid === job.vmid);
  // 30 s of slack for clock skew between this host and PVE; older tasks are not ours.
  const sinceS =
    job.requestedAtEpochMs !== undefined ? Math.floor(job.requestedAtEpochMs / 1000) - 30 : undefined;
  let tasks: { upid: string; type: string; running: boolean; starttime: number }[] = [];
  try {
    const listed = await pve.nodeTasks(job.source, {
      vmid: job.vmid,
      source: "all",
      ...(sinceS !== undefined ? { since: sinceS } : {}),
    });
    tasks = listed
      .filter((t) => MIGRATION_TASK_TYPES.has(t.type))
      // Without a saved request time only a running task can matter: ours or another party's, it is
      // followed (adopted) rather than raced by a second request.
      .filter((t) => (sinceS !== undefined ? t.starttime >= sinceS : isRunning(t)))
      .map((t) => ({ upid: t.upid, type: t.type, running: isRunning(t), starttime: t.starttime }))
      .sort((a, b) => b.starttime - a.starttime);
  } catch (e) {
    // Without the task list we cannot prove nothing runs; refusing is safer than a second migration.
    if (e instanceof PveApiError) {
      return {
        kind: "refuse" as const,
        reason: `cannot list tasks of ${job.source} to rule out a running migration: ${e.message}`,
      };
    }
    throw e;
  }
  return decideRecovery(
    { step: job.step, source: job.source, target: job.target, ...(job.upid ? { upid: job.upid } : {}) },
    { vmNode: vm?.node, vmLock: vm?.lock, migrationTasksSinceRequest: tasks },
  );
}
