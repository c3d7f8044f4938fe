/**
 * Drives migrations in the lab over time, with PVE's side effects in PVE's order:
 *
 *   qmigrate (live): lock `migrate` → target holds the memory → RAM phase (progress lines ~1/s) →
 *   switchover: the VM's responder goes silent for the modelled client outage, in real time →
 *   config moves (the guest's node flips, before the task ends) → cleanup → lock cleared → TASK OK.
 *
 * The pre-copy model (lab/migrationModel.ts) decides durations, downtime and data; the bulk phases run
 * `timeScale` times faster than modelled, the outage never does. Failures (faults, offline target,
 * local devices or disks, DELETE of the task) end as PVE ends them: `migration aborted` before the RAM
 * phase, `migration problems` during it; the VM stays on the source.
 *
 * HA-managed guests get a short `hamigrate` task first; the CRM then starts the real `qmigrate`
 * (user root@pam, log starting `task started by HA resource agent`) on the source node.
 */
import { renderBytes } from "../lib/bytes.ts";
import type { LabGuest } from "./cluster.ts";
import { type MigrationOutcome, simulateMigration, WORKLOADS } from "./migrationModel.ts";
import type { LabMigrationTruth, LabRuntime } from "./runtime.ts";
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

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

/** `YYYY-MM-DD HH:MM:SS` in local time, as strftime("%F %H:%M:%S", localtime). */
export function logTimestamp(epochMs: number): string {
  const d = new Date(epochMs);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${pad2(Math.floor(s / 3600))}:${pad2(Math.floor((s % 3600) / 60))}:${pad2(s % 60)}`;
}

/** PVE's XBZRLE cache size: a tenth of the memory, rounded to a power of two. */
function cacheSize(memoryBytes: number): number {
  return 2 ** Math.round(Math.log2(memoryBytes / 10));
}

/** Runs a list of steps against the clock, with the outage in real time. */
class MigrationRun {
  phase: Phase = "setup";
  private readonly cancels = new Set<() => void>();
  private readonly startEpochMs = Date.now();
  private switchoverMs = Number.POSITIVE_INFINITY;
  private outageMs = 0;
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
    return logTimestamp(this.startEpochMs + modelMs);
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
      if (exitstatus !== "OK" && this.truth.outageStartEpochMs === undefined) {
        // Stopped before the switchover: the modelled figures never happened.
        delete this.truth.pveDowntimeMs;
        delete this.truth.transferredBytes;
        delete this.truth.totalTimeMs;
      }
    }
    this.onEnd(exitstatus === "OK");
  }

  /** DELETE /nodes/{node}/tasks/{upid}: PVE sends the worker SIGTERM. */
  private stop(): void {
    if (this.done) return;
    const now = this.modelNow();
    const duration = formatDuration(now);
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

  private modelNow(): number {
    const wall = Date.now() - this.startEpochMs;
    if (this.phase === "setup" || this.phase === "ram") return wall * this.rt.timeScale;
    return Math.max(wall, this.switchoverMs);
  }
}

function hostKeyCheck(rt: LabRuntime, target: string): string {
  const ip = rt.cluster.node(target)?.ip ?? target;
  return `# /usr/bin/ssh -e none -o 'BatchMode=yes' -o 'HostKeyAlias=${target}' -o 'UserKnownHostsFile=/etc/pve/nodes/${target}/ssh_known_hosts' -o 'GlobalKnownHostsFile=none' root@${ip} /bin/true`;
}

/** Steps of a migration that fails in prepare, before anything moved. */
function abortSteps(reason: string, preface: { text: string; level: Level }[] = []): Step[] {
  const steps: Step[] = preface.map((p, i) => ({ atMs: i * 10, kind: "line", level: p.level, text: p.text }));
  const t = preface.length * 10 + 300;
  steps.push({
    atMs: t,
    kind: "line",
    level: "err",
    text: `migration aborted (duration ${formatDuration(t)}): ${reason}`,
  });
  steps.push({ atMs: t + 10, kind: "finish", exitstatus: "migration aborted" });
  return steps;
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

/** The live RAM phase and switchover, placed on the model's timeline. */
function liveSteps(
  g: LabGuest,
  target: string,
  o: MigrationOutcome,
  disks: { key: string }[],
  bwlimitKiB?: number,
): Step[] {
  const tl = o.timeline;
  const steps: Step[] = [];
  const at = (atMs: number, text: string, level: Level = "info") =>
    steps.push({ atMs, kind: "line", level, text });
  const sock = `unix:/run/qemu-server/${g.vmid}.migrate`;
  at(tl.targetStartBeginMs, `starting VM ${g.vmid} on remote node '${target}'`);
  at(tl.targetStartedMs, "start remote tunnel");
  at(tl.tunnelReadyMs, "ssh tunnel ver 1");
  if (o.diskMirror && tl.diskMirrorStartMs !== undefined) {
    const m = o.diskMirror;
    at(tl.diskMirrorStartMs, "starting storage migration");
    for (const d of disks) {
      at(
        tl.diskMirrorStartMs,
        `${d.key}: start migration to nbd:unix:/run/qemu-server/${g.vmid}_nbd.migrate:exportname=drive-${d.key}`,
      );
    }
    const job = `drive-${disks[0]?.key ?? "scsi0"}`;
    at(tl.diskMirrorStartMs, `drive mirror is starting for ${job}`, "raw");
    for (const p of m.progress) {
      const pct = ((100 * p.transferredBytes) / m.totalBytes).toFixed(2);
      const secs = Math.round(p.atMs / 1000);
      at(
        tl.diskMirrorStartMs + p.atMs,
        `${job}: transferred ${renderBytes(p.transferredBytes)} of ${renderBytes(m.totalBytes)} (${pct}%) in ${secs}s${p.ready ? ", ready" : ""}`,
        "raw",
      );
    }
    at(tl.diskMirrorReadyMs ?? tl.diskMirrorStartMs, "all 'mirror' jobs are ready", "raw");
    at(tl.diskMirrorReadyMs ?? tl.diskMirrorStartMs, "switching mirror jobs to actively synced mode");
  }
  const setupAt = tl.ramStartMs;
  at(setupAt, `starting online/live migration on ${sock}`);
  at(setupAt, "set migration capabilities");
  if (bwlimitKiB) at(setupAt, `migration speed limit: ${renderBytes(bwlimitKiB * 1024)}/s`);
  at(setupAt, `migration downtime limit: ${o.initialDowntimeLimitMs} ms`);
  at(setupAt, `migration cachesize: ${renderBytes(cacheSize(g.memoryBytes))}`);
  at(setupAt, "set migration parameters");
  at(setupAt, `start migrate command to ${sock}`);
  for (const p of o.progress) {
    let text = `migration active, transferred ${renderBytes(p.transferredBytes)} of ${renderBytes(p.totalBytes)} VM-state, ${renderBytes(p.speedBytesPerSecond)}/s`;
    if ((p.dirtyRateBytesPerSecond ?? 0) > p.speedBytesPerSecond) {
      text += `, VM dirties lots of memory: ${renderBytes(p.dirtyRateBytesPerSecond ?? 0)}/s`;
    }
    at(tl.ramStartMs + p.atMs, text);
  }
  for (const inc of o.downtimeIncreases) {
    if (inc.capped)
      at(tl.ramStartMs + inc.atMs, `capping downtime limit to maximum possible: ${inc.limitMs} ms`);
    at(tl.ramStartMs + inc.atMs, `auto-increased downtime to continue migration: ${inc.limitMs} ms`);
  }
  steps.push({
    atMs: tl.switchoverMs,
    kind: "switchover",
    outageMs: Math.max(o.clientOutageMs, tl.resumedMs - tl.switchoverMs),
  });
  const done = tl.completionLoggedMs;
  at(
    done,
    `average migration speed: ${renderBytes(o.averageSpeedBytesPerSecond)}/s - downtime ${o.downtimeMs} ms`,
  );
  at(done, `migration completed, transferred ${renderBytes(o.transferredBytes)} VM-state`);
  at(done, "migration status: completed");
  if (o.diskMirror) {
    for (const d of disks) {
      at(done, `drive-${d.key}: Completing block job...`, "raw");
      at(done, `drive-${d.key}: Completed successfully.`, "raw");
      at(done, `drive-${d.key}: mirror-job finished`, "raw");
    }
    at(done, "stopping NBD storage migration server on target.");
  }
  // phase3_cleanup moves the config to the target before it resumes the guest there.
  steps.push({ atMs: Math.min(done + 1, tl.resumedMs - 1), kind: "flip" });
  at(tl.endMs, `migration finished successfully (duration ${formatDuration(tl.endMs)})`);
  steps.push({ atMs: tl.endMs + 1, kind: "finish", exitstatus: "OK" });
  return steps.sort((a, b) => a.atMs - b.atMs);
}

function qemuSteps(
  rt: LabRuntime,
  req: QemuMigrationRequest,
  failure: "aborted" | "problems" | undefined,
): { steps: Step[]; ramStart?: number; outcome?: MigrationOutcome } {
  const g = req.guest;
  const target = rt.cluster.node(req.target);
  const ip = target?.ip ?? req.target;
  const running = g.status === "running";
  const head: { text: string; level: Level }[] = req.byHa
    ? [{ level: "raw", text: "task started by HA resource agent" }]
    : [];
  const devices = localResources(g);
  if (devices.length > 0) {
    return { steps: abortSteps(`can't migrate VM which uses local devices: ${devices.join(", ")}`, head) };
  }
  if (running) {
    head.push({
      level: "warn",
      text: "conntrack state migration not supported or disabled, active connections might get dropped",
    });
  }
  if (failure === "aborted" || target?.online === false) {
    const why =
      target?.online === false
        ? `ssh: connect to host ${ip} port 22: No route to host`
        : "Host key verification failed.";
    return {
      steps: abortSteps("Can't connect to destination address using public key", [
        ...head,
        { level: "info", text: hostKeyCheck(rt, req.target) },
        { level: "info", text: why },
      ]),
    };
  }
  const disks = localDisks(rt.cluster, g);
  const diskBytes = running && req.withLocalDisks ? disks.reduce((s, d) => s + d.sizeBytes, 0) : 0;
  const outcome = running ? modelOutcome(rt, g, req.bwlimitKiB, diskBytes) : undefined;
  const t0 = outcome?.timeline.prepareDoneMs ?? 300;
  const steps: Step[] = head.map((h) => ({ atMs: 0, kind: "line", level: h.level, text: h.text }));
  const at = (atMs: number, text: string, level: Level = "info") =>
    steps.push({ atMs, kind: "line", level, text });
  at(t0, `starting migration of VM ${g.vmid} to node '${req.target}' (${ip})`);
  steps.push({ atMs: t0, kind: "lock" });
  for (const d of disks) at(t0, `found local disk '${d.storage}:${d.volume}' (attached)`);
  if (running && disks.length > 0 && !req.withLocalDisks) {
    const reason = "can't live migrate attached local disks without with-local-disks option";
    at(t0, reason, "err");
    at(t0, "aborting phase 1 - cleanup resources");
    at(t0 + 150, `migration aborted (duration ${formatDuration(t0 + 150)}): ${reason}`, "err");
    steps.push({ atMs: t0 + 160, kind: "finish", exitstatus: "migration aborted" });
    return { steps };
  }
  if (!outcome) {
    // Offline migration: shared disks stay, only the config moves (local ones would be copied).
    if (disks.length > 0) at(t0 + 10, "copying local disk images");
    const end =
      t0 + 700 + Math.round(disks.reduce((s, d) => s + d.sizeBytes, 0) / rt.bandwidthBytesPerSecond) * 1000;
    steps.push({ atMs: end - 100, kind: "flip" });
    at(end, `migration finished successfully (duration ${formatDuration(end)})`);
    steps.push({ atMs: end + 1, kind: "finish", exitstatus: "OK" });
    return { steps };
  }
  const live = liveSteps(g, req.target, outcome, disks, req.bwlimitKiB);
  const ramStart = outcome.timeline.ramStartMs;
  if (failure === "problems") {
    const failAt = ramStart + Math.max(500, Math.round(outcome.ramPhaseMs * 0.6));
    const end = failAt + 900;
    return {
      steps: [
        ...steps,
        ...live.filter((s) => s.atMs < failAt && s.kind === "line"),
        {
          atMs: failAt,
          kind: "line",
          level: "info",
          text: "migration status error: failed - Unable to write to socket: Broken pipe",
        },
        { atMs: failAt, kind: "line", level: "err", text: "online migrate failure - aborting" },
        { atMs: failAt, kind: "line", level: "info", text: "aborting phase 2 - cleanup resources" },
        { atMs: failAt, kind: "line", level: "info", text: "migrate_cancel" },
        {
          atMs: end,
          kind: "line",
          level: "err",
          text: `migration finished with problems (duration ${formatDuration(end)})`,
        },
        { atMs: end + 10, kind: "finish", exitstatus: "migration problems" },
      ],
      ramStart,
      outcome,
    };
  }
  return { steps: [...steps, ...live], ramStart, outcome };
}

function sourceNodeBoot(rt: LabRuntime, node: string): number {
  return rt.cluster.node(node)?.bootEpochS ?? Math.floor(Date.now() / 1000) - 86_400;
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
  const { steps, ramStart, outcome } = qemuSteps(rt, req, failure);
  const truth: LabMigrationTruth = {
    upid: task.upid,
    vmid: g.vmid,
    source,
    target: req.target,
    status: "running",
    workload: g.workload,
  };
  if (outcome && failure === undefined) {
    truth.pveDowntimeMs = outcome.downtimeMs;
    truth.transferredBytes = outcome.transferredBytes;
    truth.totalTimeMs = outcome.totalTimeMs;
  }
  rt.truths.push(truth);
  const ha = rt.cluster.haOf(g.vmid);
  const run = new MigrationRun(rt, task, g, req.target, truth, () => {
    if (ha && req.byHa) {
      // Done or failed, the CRM settles the service as started wherever the VM now runs.
      ha.state = "started";
      delete ha.target;
    }
  });
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
  const truth: LabMigrationTruth = {
    upid: task.upid,
    vmid: g.vmid,
    source,
    target: req.target,
    status: "running",
    workload: g.workload,
  };
  rt.truths.push(truth);
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
  const kind = g.type === "lxc" ? "CT" : "VM";
  rt.tasks.log(task, `Requesting HA migration for ${kind} ${g.vmid} to node ${req.target}`);
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
  rt.scheduler.after(300 / rt.timeScale, () => {
    if (blockers.length > 0) {
      rt.tasks.log(task, `cannot migrate resource '${ha.sid}' to node '${req.target}':`);
      for (const b of blockers) {
        rt.tasks.log(
          task,
          `- resource '${b}' on target node '${req.target}' in negative affinity with resource '${ha.sid}'`,
        );
      }
      rt.tasks.finish(task, `command 'ha-manager migrate ${ha.sid} ${req.target}' failed: exit code 2`);
      return;
    }
    rt.tasks.finish(task, "OK");
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
