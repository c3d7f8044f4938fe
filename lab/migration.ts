/**
 * Drives migrations in the lab over time, with PVE's side effects in PVE's order:
 *
 *   qmigrate (live): lock `migrate` → target holds the memory → RAM phase (progress lines ~1/s) →
 *   switchover: the VM's responder goes silent for the modelled client outage, in real time →
 *   config moves (the guest's node flips, before the task ends) → cleanup → lock cleared → TASK OK.
 *
 * The pre-copy model (lab/migrationModel.ts) decides durations, downtime and data, the task-log writer
 * (lab/taskLogWriter.ts) the lines and when each appears; the bulk phases run `timeScale` times faster
 * than modelled, the outage never does. Failures (faults, offline target,
 * local devices or disks, DELETE of the task) end as PVE ends them: `migration aborted` before the RAM
 * phase, `migration problems` during it; the VM stays on the source.
 *
 * HA-managed guests get a short `hamigrate` task first; the CRM then starts the real `qmigrate`
 * (user root@pam, log starting `task started by HA resource agent`) on the source node.
 */
import type { LabGuest } from "./cluster.ts";
import { simulateMigration, WORKLOADS } from "./migrationModel.ts";
import type { LabMigrationTruth, LabRuntime } from "./runtime.ts";
import {
  formatTaskDuration,
  formatTaskTimestamp,
  localDisksWithoutOption,
  type MigrationLogContext,
  type RenderedTaskLog,
  renderHaMigrateTaskLog,
  renderMigrationTaskLog,
} from "./taskLogWriter.ts";
import type { LabTask } from "./tasks.ts";
import { localDisks, localResources } from "./views.ts";

export interface QemuMigrationRequest {
  guest: LabGuest;
  target: string;
  /** Owner of the task (the API token, or root@pam for HA). */
  user: string;
  online: boolean;
  withLocalDisks: boolean;
  bwlimitKiB?: number;
  byHa?: boolean;
}

export interface LxcMigrationRequest {
  guest: LabGuest;
  target: string;
  user: string;
  restart: boolean;
  online: boolean;
  byHa?: boolean;
}

type Level = "info" | "err" | "warn" | "raw";

/** One step of a migration, at a model offset (ms from task start). */
type Step =
  | { atMs: number; kind: "line"; level: Level; text: string }
  | { atMs: number; kind: "switchover"; outageMs: number }
  | { atMs: number; kind: "lock" }
  | { atMs: number; kind: "flip" }
  | { atMs: number; kind: "ctStop" }
  | { atMs: number; kind: "ctStart" }
  | { atMs: number; kind: "finish"; exitstatus: string };

/** Where the task is, for DELETE (stop) handling. */
type Phase = "setup" | "ram" | "switchover" | "cleanup" | "done";

function formatDuration(ms: number): string {
  return formatTaskDuration(ms / 1000);
}

/** Runs a list of steps against the clock, with the outage in real time. */
class MigrationRun {
  phase: Phase = "setup";
  private readonly cancels = new Set<() => void>();
  readonly startEpochMs = Date.now();
  private switchoverMs = Number.POSITIVE_INFINITY;
  private outageMs = 0;
  private switchoverWallMs: number | undefined;
  private outageEndWallMs: number | undefined;
  private done = false;

  constructor(
    private readonly rt: LabRuntime,
    private readonly task: LabTask,
    private readonly guest: LabGuest,
    private readonly target: string,
    private readonly truth: LabMigrationTruth | undefined,
    private readonly onEnd: (ok: boolean) => void,
  ) {}

  run(steps: Step[], ramStartMs = Number.POSITIVE_INFINITY): void {
    const sw = steps.find((s) => s.kind === "switchover");
    if (sw && sw.kind === "switchover") {
      this.switchoverMs = sw.atMs;
      this.outageMs = sw.outageMs;
    }
    this.task.onStop = () => this.stop();
    const before = steps.filter((s) => s.atMs < this.switchoverMs || s.kind === "switchover");
    for (const step of before) this.at(step.atMs / this.rt.timeScale, () => this.apply(step));
    this.afterSwitchover = steps.filter((s) => s.atMs >= this.switchoverMs && s.kind !== "switchover");
    if (ramStartMs !== Number.POSITIVE_INFINITY) {
      this.at(ramStartMs / this.rt.timeScale, () => {
        if (this.phase === "setup") this.phase = "ram";
      });
    }
  }

  private afterSwitchover: Step[] = [];

  private at(wallMs: number, fn: () => void): void {
    const cancel = this.rt.scheduler.after(wallMs, () => {
      this.cancels.delete(cancel);
      if (!this.done) fn();
    });
    this.cancels.add(cancel);
  }

  /** Model time → the wall-clock timestamp printed in the log. */
  private stamp(modelMs: number): string {
    return formatTaskTimestamp(new Date(this.startEpochMs + modelMs));
  }

  private line(modelMs: number, level: Level, text: string): void {
    if (level === "raw") {
      this.rt.tasks.log(this.task, text);
      return;
    }
    const prefix = `${this.stamp(modelMs)}${level === "err" ? " ERROR:" : ""}`;
    this.rt.tasks.log(
      this.task,
      text
        .split("\n")
        .map((l) => `${prefix} ${l}`)
        .join("\n"),
    );
  }

  private apply(step: Step): void {
    switch (step.kind) {
      case "line":
        this.line(step.atMs, step.level, step.text);
        return;
      case "switchover":
        this.switchover(step.atMs, step.outageMs);
        return;
      case "lock":
        // Phase 1 locks the config; a running VM's memory is now also held on the target.
        this.guest.lock = "migrate";
        if (this.guest.status === "running" && this.guest.type === "qemu")
          this.guest.migrationTarget = this.target;
        return;
      case "flip":
        this.flip();
        return;
      case "ctStop":
        this.guest.status = "stopped";
        delete this.guest.startedAtEpochS;
        return;
      case "ctStart":
        this.guest.status = "running";
        this.guest.startedAtEpochS = Math.floor(Date.now() / 1000);
        return;
      case "finish":
        this.finish(step.exitstatus);
        return;
    }
  }

  private switchover(atMs: number, outageMs: number): void {
    this.phase = "switchover";
    this.switchoverWallMs = Date.now();
    const responder = this.rt.responders.get(this.guest.vmid);
    const silence = responder
      ? responder.silence(outageMs)
      : this.rt.scheduler.sleep(outageMs).then(() => {
          const end = Date.now();
          return { startEpochMs: end - outageMs, endEpochMs: end };
        });
    // Steps inside the outage happen in real time, the rest after it, scaled again.
    for (const step of this.afterSwitchover.filter((s) => s.atMs < atMs + outageMs)) {
      this.at(step.atMs - atMs, () => this.apply(step));
    }
    void silence.then((w) => {
      if (this.truth) {
        this.truth.outageStartEpochMs = w.startEpochMs;
        this.truth.outageEndEpochMs = w.endEpochMs;
        this.truth.clientOutageMs = w.endEpochMs - w.startEpochMs;
      }
      if (this.done) return;
      this.phase = "cleanup";
      this.outageEndWallMs = Date.now();
      for (const step of this.afterSwitchover.filter((s) => s.atMs >= atMs + outageMs)) {
        this.at((step.atMs - atMs - outageMs) / this.rt.timeScale, () => this.apply(step));
      }
    });
  }

  private flip(): void {
    this.guest.node = this.target;
    delete this.guest.migrationTarget;
  }

  private finish(exitstatus: string): void {
    if (this.done) return;
    this.done = true;
    this.phase = "done";
    for (const c of this.cancels) c();
    this.cancels.clear();
    delete this.guest.migrationTarget;
    if (this.guest.lock === "migrate") delete this.guest.lock;
    this.rt.tasks.finish(this.task, exitstatus);
    if (this.truth) {
      this.truth.status = exitstatus === "OK" ? "ok" : "failed";
      this.truth.taskEndEpochMs = Date.now();
    }
    this.onEnd(exitstatus === "OK");
  }

  /** DELETE /nodes/{node}/tasks/{upid}: PVE sends the worker SIGTERM. */
  private stop(): void {
    if (this.done) return;
    const now = this.modelNow();
    const duration = formatDuration(now);
    if ((this.phase === "setup" || this.phase === "ram") && this.truth) {
      // Stopped before the switchover: the modelled figures never happened.
      delete this.truth.pveDowntimeMs;
      delete this.truth.transferredBytes;
      this.truth.totalTimeMs = Math.round(now);
    }
    if (this.phase === "setup") {
      for (const c of this.cancels) c();
      this.line(now, "err", "interrupted by signal");
      this.line(now, "info", "aborting phase 1 - cleanup resources");
      this.line(now, "err", `migration aborted (duration ${duration}): interrupted by signal`);
      this.finish("migration aborted");
    } else if (this.phase === "ram") {
      for (const c of this.cancels) c();
      this.line(now, "err", "online migrate failure - interrupted by signal");
      this.line(now, "info", "aborting phase 2 - cleanup resources");
      this.line(now, "info", "migrate_cancel");
      this.line(now, "err", `migration finished with problems (duration ${duration})`);
      this.finish("migration problems");
    } else {
      // The VM already runs on the target: the interrupt is only noted, the migration completes.
      this.line(now, "err", "received interrupt - delayed");
    }
  }

  /** Where the task is on the model's clock (for the durations a stop prints). */
  private modelNow(): number {
    const now = Date.now();
    if (this.switchoverWallMs === undefined) return (now - this.startEpochMs) * this.rt.timeScale;
    if (this.outageEndWallMs === undefined) return this.switchoverMs + (now - this.switchoverWallMs);
    return this.switchoverMs + this.outageMs + (now - this.outageEndWallMs) * this.rt.timeScale;
  }
}

function hostKeyCheck(rt: LabRuntime, target: string): string {
  const ip = rt.cluster.node(target)?.ip ?? target;
  return `# /usr/bin/ssh -e none -o 'BatchMode=yes' -o 'HostKeyAlias=${target}' -o 'UserKnownHostsFile=/etc/pve/nodes/${target}/ssh_known_hosts' -o 'GlobalKnownHostsFile=none' root@${ip} /bin/true`;
}

export function modelOutcome(
  rt: LabRuntime,
  g: LabGuest,
  bwlimitKiB: number | undefined,
  localDiskBytes: number,
) {
  const bandwidth = Math.min(
    rt.bandwidthBytesPerSecond,
    bwlimitKiB ? bwlimitKiB * 1024 : Number.POSITIVE_INFINITY,
  );
  return simulateMigration({
    memoryBytes: g.memoryBytes,
    workload: WORKLOADS[g.workload],
    bandwidthBytesPerSecond: bandwidth,
    seed: g.vmid,
    ...(localDiskBytes > 0 ? { localDiskBytes } : {}),
  });
}

/** The writer's lines as steps (its `TASK …` line is the registry's job), ending in `finish`. */
function logSteps(rendered: Omit<RenderedTaskLog, "truth">): Step[] {
  const steps: Step[] = rendered.lines
    .filter((l) => !l.text.startsWith("TASK "))
    .map((l) => ({ atMs: l.offsetMs, kind: "line", level: "raw", text: l.text }));
  steps.push({ atMs: rendered.endOffsetMs, kind: "finish", exitstatus: rendered.exitStatus });
  return steps;
}

interface QemuPlan {
  steps: Step[];
  ramStart?: number;
  rendered?: RenderedTaskLog;
}

/** Offline migration of a stopped VM: only the config moves (local disks would be copied first). */
function offlineSteps(
  rt: LabRuntime,
  req: QemuMigrationRequest,
  ctx: MigrationLogContext,
  startedAt: Date,
): QemuPlan {
  const g = req.guest;
  const stamp = (ms: number) => formatTaskTimestamp(new Date(startedAt.getTime() + ms));
  const disks = localDisks(rt.cluster, g);
  const t0 = 300;
  const end =
    t0 + 700 + Math.round((disks.reduce((s, d) => s + d.sizeBytes, 0) / rt.bandwidthBytesPerSecond) * 1000);
  const steps: Step[] = [];
  const line = (atMs: number, text: string) =>
    steps.push({ atMs, kind: "line", level: "raw", text: `${stamp(atMs)} ${text}` });
  if (req.byHa)
    steps.push({ atMs: 0, kind: "line", level: "raw", text: "task started by HA resource agent" });
  line(t0, `starting migration of VM ${g.vmid} to node '${req.target}' (${ctx.targetAddress})`);
  steps.push({ atMs: t0, kind: "lock" });
  for (const d of disks) line(t0, `found local disk '${d.storage}:${d.volume}' (in current VM config)`);
  if (disks.length > 0) line(t0 + 10, "copying local disk images");
  steps.push({ atMs: end - 100, kind: "flip" });
  line(end, `migration finished successfully (duration ${formatDuration(end)})`);
  steps.push({ atMs: end + 1, kind: "finish", exitstatus: "OK" });
  return { steps };
}

function qemuPlan(
  rt: LabRuntime,
  req: QemuMigrationRequest,
  failure: "aborted" | "problems" | undefined,
  startedAt: Date,
): QemuPlan {
  const g = req.guest;
  const target = rt.cluster.node(req.target);
  const ctx: MigrationLogContext = {
    vmid: g.vmid,
    targetNode: req.target,
    targetAddress: target?.ip ?? req.target,
    startedAt,
    memoryBytes: g.memoryBytes,
    pveVersion: rt.cluster.version.version.startsWith("8.") ? 8 : 9,
    startedByHa: req.byHa ?? false,
  };
  const devices = localResources(g);
  if (devices.length > 0) {
    const rendered = renderMigrationTaskLog({
      ...ctx,
      result: "aborted",
      reason: `can't migrate VM which uses local devices: ${devices.join(", ")}`,
    });
    return { steps: logSteps(rendered), rendered };
  }
  if (failure === "aborted" || target?.online === false) {
    const why =
      target?.online === false
        ? `ssh: connect to host ${ctx.targetAddress} port 22: No route to host`
        : "Host key verification failed.";
    const rendered = renderMigrationTaskLog({
      ...ctx,
      result: "aborted",
      reason: "Can't connect to destination address using public key",
      detailLines: [hostKeyCheck(rt, req.target), why],
    });
    return { steps: logSteps(rendered), rendered };
  }
  if (g.status !== "running") return offlineSteps(rt, req, ctx, startedAt);
  const disks = localDisks(rt.cluster, g);
  const diskCtx: MigrationLogContext = {
    ...ctx,
    localDisks: disks.map((d) => ({
      drive: d.key,
      volid: `${d.storage}:${d.volume}`,
      sizeBytes: d.sizeBytes,
    })),
  };
  if (disks.length > 0 && !req.withLocalDisks) {
    const rendered = renderMigrationTaskLog(localDisksWithoutOption(diskCtx));
    // phase 1 took the lock before it scanned the volumes
    return { steps: [{ atMs: 0, kind: "lock" }, ...logSteps(rendered)], rendered };
  }
  const outcome = modelOutcome(
    rt,
    g,
    req.bwlimitKiB,
    req.withLocalDisks ? disks.reduce((s, d) => s + d.sizeBytes, 0) : 0,
  );
  const tl = outcome.timeline;
  const logCtx = req.withLocalDisks ? diskCtx : ctx;
  const rendered =
    failure === "problems"
      ? renderMigrationTaskLog({
          ...logCtx,
          result: "problems",
          outcome,
          failAtRamMs: Math.round((tl.switchoverMs - tl.ramStartMs) * 0.6),
          qemuError: "Unable to write to socket: Broken pipe",
        })
      : renderMigrationTaskLog({ ...logCtx, result: "ok", outcome });
  const steps: Step[] = [...logSteps(rendered), { atMs: tl.prepareDoneMs, kind: "lock" }];
  if (failure === undefined) {
    steps.push({
      atMs: tl.switchoverMs,
      kind: "switchover",
      outageMs: Math.max(outcome.clientOutageMs, tl.resumedMs - tl.switchoverMs),
    });
    // phase3_cleanup moves the config to the target before it resumes the guest there
    steps.push({ atMs: Math.min(tl.completionLoggedMs + 1, tl.resumedMs - 1), kind: "flip" });
  }
  return { steps: steps.sort((a, b) => a.atMs - b.atMs), ramStart: tl.ramStartMs, rendered };
}

function sourceNodeBoot(rt: LabRuntime, node: string): number {
  return rt.cluster.node(node)?.bootEpochS ?? Math.floor(Date.now() / 1000) - 86_400;
}

/** Opens the ground-truth record of a migration; the run fills in what really happened. */
function recordTruth(rt: LabRuntime, task: LabTask, g: LabGuest, target: string): LabMigrationTruth {
  const truth: LabMigrationTruth = {
    upid: task.upid,
    vmid: g.vmid,
    source: g.node,
    target,
    status: "running",
    workload: g.workload,
  };
  rt.truths.push(truth);
  return truth;
}

/** Starts a `qmigrate` task on the guest's node; returns the task (its UPID is the API's answer). */
export function startQemuMigration(rt: LabRuntime, req: QemuMigrationRequest): LabTask {
  const g = req.guest;
  const source = g.node;
  const task = rt.tasks.start({
    node: source,
    type: "qmigrate",
    id: String(g.vmid),
    user: req.user,
    nodeBootEpochS: sourceNodeBoot(rt, source),
  });
  const failure = rt.faults.migrationFailure(g.vmid);
  const truth = recordTruth(rt, task, g, req.target);
  const ha = rt.cluster.haOf(g.vmid);
  const settleHa = () => {
    if (ha && req.byHa) {
      // Done or failed, the CRM settles the service as started wherever the VM now runs.
      ha.state = "started";
      delete ha.target;
    }
  };
  // lab --qemu: a real QEMU guest migrates for real (lab/qemu/backend.ts); the rest stays modelled.
  if (rt.qemu?.takes(req, failure)) {
    rt.qemu.run({ rt, task, truth, req, onEnd: settleHa });
    return task;
  }
  const run = new MigrationRun(rt, task, g, req.target, truth, settleHa);
  truth.taskStartEpochMs = run.startEpochMs;
  const { steps, ramStart, rendered } = qemuPlan(rt, req, failure, new Date(run.startEpochMs));
  if (rendered) {
    const t = rendered.truth;
    if (t.pveDowntimeMs !== undefined) truth.pveDowntimeMs = t.pveDowntimeMs;
    if (t.transferredBytes !== undefined) truth.transferredBytes = t.transferredBytes;
    truth.totalTimeMs = t.totalTimeMs;
  }
  run.run(steps, ramStart);
  return task;
}

/** `vzmigrate` in restart mode: the container shuts down, its config moves, it starts on the target. */
export function startLxcMigration(rt: LabRuntime, req: LxcMigrationRequest): LabTask {
  const g = req.guest;
  const source = g.node;
  const task = rt.tasks.start({
    node: source,
    type: "vzmigrate",
    id: String(g.vmid),
    user: req.user,
    nodeBootEpochS: sourceNodeBoot(rt, source),
  });
  const target = rt.cluster.node(req.target);
  const ip = target?.ip ?? req.target;
  const running = g.status === "running";
  const failure = rt.faults.migrationFailure(g.vmid);
  const steps: Step[] = [];
  let t = 0;
  const line = (text: string, level: Level = "info") => steps.push({ atMs: t, kind: "line", level, text });
  if (req.byHa) line("task started by HA resource agent", "raw");
  if (g.lock !== undefined) {
    t += 200;
    line(`migration aborted (duration ${formatDuration(t)}): CT is locked (${g.lock})`, "err");
    steps.push({ atMs: t + 5, kind: "finish", exitstatus: "migration aborted" });
  }
  const truth = recordTruth(rt, task, g, req.target);
  if (g.lock !== undefined) {
    // already decided above
  } else if (running && req.online && !req.restart) {
    t += 100;
    line("migration aborted (duration 00:00:00): lxc live migration is currently not implemented", "err");
    steps.push({ atMs: t + 5, kind: "finish", exitstatus: "migration aborted" });
  } else if (failure === "aborted" || target?.online === false) {
    line(hostKeyCheck(rt, req.target));
    line(
      target?.online === false
        ? `ssh: connect to host ${ip} port 22: No route to host`
        : "Host key verification failed.",
    );
    t += 300;
    line(
      `migration aborted (duration ${formatDuration(t)}): Can't connect to destination address using public key`,
      "err",
    );
    steps.push({ atMs: t + 5, kind: "finish", exitstatus: "migration aborted" });
  } else {
    if (running) {
      line(`shutdown CT ${g.vmid}`);
      t += 2500;
      steps.push({ atMs: t, kind: "ctStop" });
    }
    line(`starting migration of CT ${g.vmid} to node '${req.target}' (${ip})`);
    steps.push({ atMs: t, kind: "lock" });
    for (const d of g.disks) {
      const s = rt.cluster.storage(d.storage);
      if (s?.shared) line(`volume '${d.storage}:${d.volume}' is on shared storage '${d.storage}'`);
      else line(`found local volume '${d.storage}:${d.volume}' (in current VM config)`);
    }
    if (failure === "problems") {
      t += 1500;
      line("rsync: connection unexpectedly closed", "err");
      line("aborting phase 1 - cleanup resources");
      line("start final cleanup");
      if (running) {
        line("start container on source node");
        steps.push({ atMs: t, kind: "ctStart" });
      }
      line(`migration aborted (duration ${formatDuration(t)}): command 'rsync' failed: exit code 12`, "err");
      steps.push({ atMs: t + 5, kind: "finish", exitstatus: "migration aborted" });
    } else {
      t += 800;
      steps.push({ atMs: t, kind: "flip" });
      line("start final cleanup");
      if (running) {
        line("start container on target node");
        t += 1500;
        steps.push({ atMs: t, kind: "ctStart" });
      }
      line(`migration finished successfully (duration ${formatDuration(t)})`);
      steps.push({ atMs: t + 5, kind: "finish", exitstatus: "OK" });
    }
  }
  const startedAt = Date.now();
  const ha = rt.cluster.haOf(g.vmid);
  const run = new MigrationRun(rt, task, g, req.target, truth, () => {
    truth.totalTimeMs = (Date.now() - startedAt) * rt.timeScale;
    if (ha && req.byHa) {
      ha.state = "started";
      delete ha.target;
    }
  });
  run.run(steps);
  return task;
}

/**
 * POST migrate on an HA-managed guest: a short `hamigrate` task that asks the CRM; the CRM then has the
 * source node's LRM run the real migration as root@pam.
 */
export function startHaMigration(
  rt: LabRuntime,
  req: { guest: LabGuest; target: string; user: string },
): LabTask {
  const g = req.guest;
  const ha = rt.cluster.haOf(g.vmid);
  if (!ha) throw new Error(`lab: guest ${g.vmid} is not HA-managed`);
  const source = g.node;
  const task = rt.tasks.start({
    node: source,
    type: "hamigrate",
    id: String(g.vmid),
    user: req.user,
    nodeBootEpochS: sourceNodeBoot(rt, source),
  });
  const blockers = rt.cluster.haRules
    .filter(
      (r) =>
        !r.disable &&
        r.type === "resource-affinity" &&
        r.affinity === "negative" &&
        r.resources.includes(ha.sid),
    )
    .flatMap((r) => r.resources.filter((s) => s !== ha.sid))
    .filter((sid) => rt.cluster.guest(Number(sid.split(":")[1]))?.node === req.target);
  const refused =
    blockers.length > 0
      ? {
          outputLines: [
            `cannot migrate resource '${ha.sid}' to node '${req.target}':`,
            ...blockers.map(
              (b) =>
                `- resource '${b}' on target node '${req.target}' in negative affinity with resource '${ha.sid}'`,
            ),
          ],
          exitCode: 2,
        }
      : undefined;
  const rendered = renderHaMigrateTaskLog({
    vmid: g.vmid,
    targetNode: req.target,
    guestType: g.type,
    ...(refused ? { refused } : {}),
  });
  for (const l of rendered.lines) {
    if (l.text.startsWith("TASK ")) continue;
    if (l.offsetMs === 0) rt.tasks.log(task, l.text);
    else rt.scheduler.after(l.offsetMs / rt.timeScale, () => rt.tasks.log(task, l.text));
  }
  rt.scheduler.after(rendered.endOffsetMs / rt.timeScale, () => {
    if (rendered.exitStatus !== "OK") {
      rt.tasks.finish(task, rendered.exitStatus);
      return;
    }
    rt.tasks.finish(task, "OK");
    // The CRM drops a request that a strict node-affinity rule forbids: no qmigrate ever appears.
    const forbidden = rt.cluster.haRules.some(
      (r) =>
        !r.disable &&
        r.type === "node-affinity" &&
        r.strict &&
        r.resources.includes(ha.sid) &&
        !(r.nodes ?? []).some((n) => n.split(":")[0] === req.target),
    );
    if (forbidden) return;
    ha.state = "migrate";
    ha.target = req.target;
    rt.scheduler.after(rt.haCrmDelayMs / rt.timeScale, () => {
      if (g.type === "lxc") {
        startLxcMigration(rt, {
          guest: g,
          target: req.target,
          user: "root@pam",
          restart: true,
          online: false,
          byHa: true,
        });
      } else {
        startQemuMigration(rt, {
          guest: g,
          target: req.target,
          user: "root@pam",
          online: g.status === "running",
          withLocalDisks: false,
          byHa: true,
        });
      }
    });
  });
  return task;
}
