/**
 * Renders a modelled migration as the task log Proxmox VE writes (pure): the `qmigrate` worker's lines
 * (QemuMigrate.pm / AbstractMigrate.pm wording), the un-timestamped block-job lines, the `TASK …` end line
 * and the task's `exitstatus`; plus the short `hamigrate` task an HA-managed guest gets instead.
 *
 * Each line carries its offset from the task start, so the lab can reveal the log as the task runs.
 * Timestamps are `startedAt + offset` printed as `YYYY-MM-DD HH:MM:SS` in UTC (a real node prints its
 * local time; UTC keeps the output independent of the machine running the lab).
 */
import { renderBytes } from "../lib/bytes.ts";
import type { MigrationOutcome, ProgressPoint } from "./migrationModel.ts";

export interface TaskLogLine {
  offsetMs: number;
  text: string;
}

export interface LocalDiskSpec {
  /** Config key, e.g. `scsi0`. */
  drive: string;
  /** e.g. `local-lvm:vm-105-disk-0`. */
  volid: string;
  /** Volume on the target (default: the same id). */
  targetVolid?: string;
  sizeBytes: number;
}

export interface MigrationLogContext {
  vmid: number;
  targetNode: string;
  /** Address PVE migrates to (`to node 'pve1' (10.10.1.1)`). */
  targetAddress: string;
  /** Task start (the UPID start time). */
  startedAt: Date;
  /** Guest memory as configured: PVE sizes the xbzrle cache from it. */
  memoryBytes: number;
  /** 9 (default): `mirror-<drive>` block jobs, the `migration completed, transferred` and conntrack lines. */
  pveVersion?: 8 | 9;
  /** The HA LRM started the task (`task started by HA resource agent`). */
  startedByHa?: boolean;
  /** A dedicated migration network is configured: PVE logs which address it uses. */
  migrationNetwork?: boolean;
  /** Attached local disks (with-local-disks). A successful or live-failed run needs an outcome simulated with `localDiskBytes`. */
  localDisks?: LocalDiskSpec[];
}

export type OkLogInput = MigrationLogContext & { result: "ok"; outcome: MigrationOutcome };

export type AbortedLogInput = MigrationLogContext & {
  /** Refused before the live part: `migration aborted`, the guest never left the source. */
  result: "aborted";
  /** The die text, e.g. `Can't connect to destination address using public key`. */
  reason: string;
  /** `prepare` (default: checks, ssh test) or `phase1` (after `starting migration of VM …`). */
  phase?: "prepare" | "phase1";
  /** Info lines logged before the error (command output, `can't migrate local disk …`). */
  detailLines?: string[];
  /** Task length; default 0.4 s (prepare) or 0.9 s (phase1). */
  durationMs?: number;
};

export type ProblemsLogInput = MigrationLogContext & {
  /** The live phase failed after some progress: `migration problems`, the guest stays on the source. */
  result: "problems";
  /** The run as it would have gone; lines stop at the failure. */
  outcome: MigrationOutcome;
  /** ms into the RAM phase when the failure is seen (clamped before the switchover). */
  failAtRamMs: number;
  /** QEMU's `error-desc` (`migration status error: failed - …`), e.g. `Unable to write to socket: Broken pipe`. */
  qemuError?: string;
  /** phase2's die text; default `aborting` (what PVE dies with after a failed QEMU status). */
  reason?: string;
};

export type MigrationLogInput = OkLogInput | AbortedLogInput | ProblemsLogInput;

/** What the lab reports as ground truth for one migration task. */
export interface MigrationTruthFigures {
  status: "ok" | "failed";
  /** Downtime as PVE logs it (QEMU's stop-and-copy). */
  pveDowntimeMs?: number;
  /** How long the guest was really unreachable (downtime + PVE noticing completion + resume). */
  clientOutageMs?: number;
  /** Offsets from the task start between which the guest is silent. */
  outageStartOffsetMs?: number;
  outageEndOffsetMs?: number;
  /** VM-state bytes sent (what `migration completed, transferred …` states). */
  transferredBytes?: number;
  totalTimeMs: number;
}

export interface RenderedTaskLog {
  lines: TaskLogLine[];
  /** PVE's task `exitstatus`: `OK`, `migration aborted`, `migration problems`, or the hamigrate error. */
  exitStatus: string;
  /** Offset of the `TASK …` line: when the task stops. */
  endOffsetMs: number;
  truth: MigrationTruthFigures;
}

export const EXIT_OK = "OK";
export const EXIT_ABORTED = "migration aborted";
export const EXIT_PROBLEMS = "migration problems";

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** `YYYY-MM-DD HH:MM:SS` (UTC) — AbstractMigrate's `%F %H:%M:%S`. */
export function formatTaskTimestamp(date: Date): string {
  return (
    `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`
  );
}

/** `HH:MM:SS` of AbstractMigrate's `(duration …)`. */
export function formatTaskDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
}

/** PVE's render_duration: `0s`, `9s`, `7m 45s`, `1h 2m 3s`. */
export function renderDuration(seconds: number): string {
  let rest = Math.round(seconds);
  if (rest <= 0) return "0s";
  const parts: string[] = [];
  for (const [unit, length] of [
    ["w", 604_800],
    ["d", 86_400],
    ["h", 3600],
    ["m", 60],
    ["s", 1],
  ] as const) {
    const v = Math.floor(rest / length);
    if (v > 0) {
      parts.push(`${v}${unit}`);
      rest -= v * length;
    }
  }
  return parts.join(" ");
}

/** The xbzrle cache PVE sets: 10 % of the configured memory, rounded up to a power of two. */
export function xbzrleCacheBytes(memoryBytes: number): number {
  const tenth = Math.floor(memoryBytes / 10);
  if (tenth < 2) return 1;
  return 2 ** Math.ceil(Math.log2(tenth));
}

/** Lab ground truth of a run that went through. */
export function migrationTruth(outcome: MigrationOutcome): MigrationTruthFigures {
  return {
    status: "ok",
    pveDowntimeMs: outcome.downtimeMs,
    clientOutageMs: outcome.clientOutageMs,
    outageStartOffsetMs: outcome.timeline.switchoverMs,
    outageEndOffsetMs: outcome.timeline.switchoverMs + outcome.clientOutageMs,
    transferredBytes: outcome.transferredBytes,
    totalTimeMs: outcome.totalTimeMs,
  };
}

class LogBuilder {
  readonly lines: TaskLogLine[] = [];
  private last = 0;
  constructor(private readonly startedAt: Date) {}

  /** A line through `$self->log`: stamped, `ERROR: ` for errors, one stamp per line of a multi-line text. */
  log(offsetMs: number, text: string, level: "info" | "err" = "info"): void {
    const at = this.at(offsetMs);
    const stamp = formatTaskTimestamp(new Date(this.startedAt.getTime() + at));
    for (const line of text.replace(/\n+$/, "").split("\n")) {
      this.lines.push({
        offsetMs: at,
        text: level === "err" ? `${stamp} ERROR: ${line}` : `${stamp} ${line}`,
      });
    }
  }

  /** A plain `print` (block jobs, relayed output, the TASK line): no stamp. */
  print(offsetMs: number, text: string): void {
    this.lines.push({ offsetMs: this.at(offsetMs), text });
  }

  /** Lines never go back in time, whatever rounding the inputs carry. */
  private at(offsetMs: number): number {
    this.last = Math.max(this.last, Math.round(offsetMs));
    return this.last;
  }

  durationSince(endOffsetMs: number): string {
    const start = Math.floor(this.startedAt.getTime() / 1000);
    const end = Math.floor((this.startedAt.getTime() + endOffsetMs) / 1000);
    return formatTaskDuration(end - start);
  }

  /** PVE's integer `time()` difference between two offsets. */
  wholeSecondsBetween(fromMs: number, toMs: number): number {
    const t0 = this.startedAt.getTime();
    return Math.floor((t0 + toMs) / 1000) - Math.floor((t0 + fromMs) / 1000);
  }
}

function blockJobId(ctx: MigrationLogContext, drive: string): string {
  return (ctx.pveVersion ?? 9) === 9 ? `mirror-${drive}` : `drive-${drive}`;
}

function sortedDisks(ctx: MigrationLogContext): LocalDiskSpec[] {
  return [...(ctx.localDisks ?? [])]
    .filter((d) => d.sizeBytes > 0)
    .sort((a, b) => a.volid.localeCompare(b.volid));
}

/** Lines up to and including `starting migration of VM …` and the local-disk scan. */
function writeStart(
  b: LogBuilder,
  ctx: MigrationLogContext,
  prepareDoneMs: number,
  withConntrack: boolean,
): void {
  if (ctx.startedByHa) b.print(0, "task started by HA resource agent");
  if (withConntrack && (ctx.pveVersion ?? 9) === 9) {
    b.log(
      prepareDoneMs - 1,
      "conntrack state migration not supported or disabled, active connections might get dropped",
    );
  }
  if (ctx.migrationNetwork) {
    b.log(
      prepareDoneMs,
      `use dedicated network address for sending migration traffic (${ctx.targetAddress})`,
    );
  }
  b.log(
    prepareDoneMs,
    `starting migration of VM ${ctx.vmid} to node '${ctx.targetNode}' (${ctx.targetAddress})`,
  );
}

function writeFoundDisks(b: LogBuilder, ctx: MigrationLogContext, offsetMs: number): void {
  for (const disk of sortedDisks(ctx)) b.log(offsetMs, `found local disk '${disk.volid}' (attached)`);
}

function progressText(p: ProgressPoint): string {
  let text = `migration active, transferred ${renderBytes(p.transferredBytes)} of ${renderBytes(p.totalBytes)} VM-state, ${renderBytes(p.speedBytesPerSecond)}/s`;
  const dirty = p.dirtyRateBytesPerSecond ?? 0;
  if (dirty > p.speedBytesPerSecond) text += `, VM dirties lots of memory: ${renderBytes(dirty)}/s`;
  return text;
}

/** Sequential mirrors as PVE starts them: one `mirror()` per drive, each monitored until every job so far is ready. */
function writeDiskMirrors(b: LogBuilder, ctx: MigrationLogContext, outcome: MigrationOutcome): void {
  const disks = sortedDisks(ctx);
  const mirror = outcome.diskMirror;
  const start = outcome.timeline.diskMirrorStartMs;
  if (!mirror || start === undefined) {
    throw new RangeError("renderMigrationTaskLog: localDisks given but the outcome has no disk mirror");
  }
  const diskTotal = disks.reduce((sum, d) => sum + d.sizeBytes, 0);
  // The model mirrors the sum of the disks: disk i covers its share of the aggregate byte range.
  const scale = diskTotal / Math.max(mirror.totalBytes, 1);
  const vmid = ctx.vmid;
  b.log(start - 2, "starting storage migration");
  let index = 0;
  let before = 0;
  let diskStartMs = 0;
  const begin = (at: number) => {
    const disk = disks[index] as LocalDiskSpec;
    b.log(
      start + at - 1,
      `${disk.drive}: start migration to nbd:unix:/run/qemu-server/${vmid}_nbd.migrate:exportname=drive-${disk.drive}`,
    );
    b.print(start + at, `drive mirror is starting for drive-${disk.drive}`);
    diskStartMs = at;
  };
  begin(0);
  for (const point of mirror.progress) {
    const sent = point.transferredBytes * scale;
    while (index < disks.length) {
      const disk = disks[index] as LocalDiskSpec;
      const done = Math.min(disk.sizeBytes, Math.max(0, sent - before));
      const ready = point.ready || (done >= disk.sizeBytes && index < disks.length - 1);
      const percent = ((done * 100) / disk.sizeBytes).toFixed(2);
      const elapsed = renderDuration((point.atMs - diskStartMs) / 1000);
      b.print(
        start + point.atMs,
        `${blockJobId(ctx, disk.drive)}: transferred ${renderBytes(done)} of ${renderBytes(disk.sizeBytes)} (${percent}%) in ${elapsed}${ready ? ", ready" : ""}`,
      );
      if (!ready) break;
      b.print(start + point.atMs, "all 'mirror' jobs are ready");
      before += disk.sizeBytes;
      index++;
      if (index >= disks.length) break;
      begin(point.atMs);
    }
  }
  const readyMs = outcome.timeline.diskMirrorReadyMs ?? start;
  b.log(readyMs + 10, "switching mirror jobs to actively synced mode");
  for (const disk of disks) {
    const job = blockJobId(ctx, disk.drive);
    b.print(readyMs + 20, `${job}: switching to actively synced mode`);
    b.print(readyMs + 25, `${job}: successfully switched to actively synced mode`);
  }
}

/** Everything from `starting VM … on remote node` to `start migrate command`. */
function writeLiveStart(b: LogBuilder, ctx: MigrationLogContext, outcome: MigrationOutcome): void {
  const t = outcome.timeline;
  const disks = sortedDisks(ctx);
  writeStart(b, ctx, t.prepareDoneMs, true);
  writeFoundDisks(b, ctx, t.prepareDoneMs + 1);
  b.log(t.targetStartBeginMs, `starting VM ${ctx.vmid} on remote node '${ctx.targetNode}'`);
  for (const disk of disks) {
    b.log(t.targetStartedMs, `volume '${disk.volid}' is '${disk.targetVolid ?? disk.volid}' on the target`);
  }
  b.log(t.targetStartedMs, "start remote tunnel");
  b.log(t.tunnelReadyMs, "ssh tunnel ver 1");
  if (disks.length > 0) writeDiskMirrors(b, ctx, outcome);
  const uri = `unix:/run/qemu-server/${ctx.vmid}.migrate`;
  const r = t.ramStartMs;
  b.log(r - 40, `starting online/live migration on ${uri}`);
  b.log(r - 35, "set migration capabilities");
  b.log(r - 20, `migration downtime limit: ${outcome.initialDowntimeLimitMs} ms`);
  b.log(r - 15, `migration cachesize: ${renderBytes(xbzrleCacheBytes(ctx.memoryBytes))}`);
  b.log(r - 10, "set migration parameters");
  b.log(r, `start migrate command to ${uri}`);
}

/** Progress lines and downtime increases logged before `untilRamMs` (exclusive). */
function writeRamProgress(b: LogBuilder, outcome: MigrationOutcome, untilRamMs: number): void {
  const r = outcome.timeline.ramStartMs;
  const events: Array<{ at: number; order: number; write: () => void }> = [];
  for (const p of outcome.progress) {
    if (p.atMs < untilRamMs)
      events.push({ at: p.atMs, order: 0, write: () => b.log(r + p.atMs, progressText(p)) });
  }
  for (const inc of outcome.downtimeIncreases) {
    if (inc.atMs >= untilRamMs) continue;
    events.push({
      at: inc.atMs,
      order: 1,
      write: () => {
        if (inc.capped) b.log(r + inc.atMs, `capping downtime limit to maximum possible: ${inc.limitMs} ms`);
        b.log(r + inc.atMs, `auto-increased downtime to continue migration: ${inc.limitMs} ms`);
      },
    });
  }
  events.sort((x, y) => x.at - y.at || x.order - y.order);
  for (const e of events) e.write();
}

function renderOk(ctx: MigrationLogContext, outcome: MigrationOutcome): RenderedTaskLog {
  const b = new LogBuilder(ctx.startedAt);
  const t = outcome.timeline;
  writeLiveStart(b, ctx, outcome);
  writeRamProgress(b, outcome, outcome.ramPhaseMs);
  const done = t.completionLoggedMs;
  const delay = b.wholeSecondsBetween(t.ramStartMs, done);
  if (delay > 0) {
    const speed = renderBytes(outcome.vmStateTotalBytes / delay);
    b.log(done, `average migration speed: ${speed}/s - downtime ${outcome.downtimeMs} ms`);
  }
  if ((ctx.pveVersion ?? 9) === 9) {
    b.log(done, `migration completed, transferred ${renderBytes(outcome.transferredBytes)} VM-state`);
  }
  b.log(done, "migration status: completed");
  const disks = sortedDisks(ctx);
  if (disks.length > 0) {
    b.print(done + 5, "all 'mirror' jobs are ready");
    for (const disk of disks) {
      const job = blockJobId(ctx, disk.drive);
      b.print(done + 10, `${job}: Completing block job...`);
      b.print(done + 40, `${job}: Completed successfully.`);
    }
    // The block-job monitor sleeps a second before it sees the jobs gone.
    const finished = Math.max(done + 1000, t.resumedMs - 400);
    for (const disk of disks) b.print(finished, `${blockJobId(ctx, disk.drive)}: mirror-job finished`);
    b.log(finished + 5, "stopping NBD storage migration server on target.");
  }
  b.log(t.endMs, `migration finished successfully (duration ${b.durationSince(t.endMs)})`);
  b.print(t.endMs, "TASK OK");
  return { lines: b.lines, exitStatus: EXIT_OK, endOffsetMs: t.endMs, truth: migrationTruth(outcome) };
}

function renderAborted(
  ctx: MigrationLogContext,
  reason: string,
  phase: "prepare" | "phase1",
  detailLines: readonly string[],
  durationMs: number | undefined,
): RenderedTaskLog {
  const b = new LogBuilder(ctx.startedAt);
  const end = Math.max(0, durationMs ?? (phase === "prepare" ? 400 : 900));
  if (phase === "prepare") {
    if (ctx.startedByHa) b.print(0, "task started by HA resource agent");
    for (const line of detailLines) b.log(end * 0.8, line);
  } else {
    writeStart(b, ctx, Math.min(300, end * 0.3), true);
    writeFoundDisks(b, ctx, Math.min(301, end * 0.3));
    for (const line of detailLines) b.log(end * 0.4, line);
    b.log(end * 0.5, reason, "err");
    b.log(end * 0.6, "aborting phase 1 - cleanup resources");
  }
  b.log(end, `migration aborted (duration ${b.durationSince(end)}): ${reason}`, "err");
  b.print(end, `TASK ERROR: ${EXIT_ABORTED}`);
  return {
    lines: b.lines,
    exitStatus: EXIT_ABORTED,
    endOffsetMs: end,
    truth: { status: "failed", totalTimeMs: end },
  };
}

function renderProblems(
  ctx: MigrationLogContext,
  outcome: MigrationOutcome,
  failAtRamMs: number,
  qemuError: string | undefined,
  reason: string | undefined,
): RenderedTaskLog {
  const b = new LogBuilder(ctx.startedAt);
  const t = outcome.timeline;
  const switchoverRamMs = t.switchoverMs - t.ramStartMs;
  const failAt = Math.max(0, Math.min(failAtRamMs, switchoverRamMs));
  writeLiveStart(b, ctx, outcome);
  writeRamProgress(b, outcome, failAt);
  const at = t.ramStartMs + failAt;
  if (qemuError !== undefined) b.log(at, `migration status error: failed - ${qemuError}`);
  b.log(at, `online migrate failure - ${reason ?? "aborting"}`, "err");
  b.log(at + 5, "aborting phase 2 - cleanup resources");
  b.log(at + 10, "migrate_cancel");
  for (const disk of sortedDisks(ctx)) {
    const job = blockJobId(ctx, disk.drive);
    b.print(at + 30, `${job}: Cancelling block job`);
    b.print(at + 60, `${job}: Done.`);
  }
  // Stopping the half-started target guest over ssh takes the rest.
  const end = at + 1800;
  b.log(end, `migration finished with problems (duration ${b.durationSince(end)})`, "err");
  b.print(end, `TASK ERROR: ${EXIT_PROBLEMS}`);
  const sent = outcome.progress.filter((p) => p.atMs < failAt).at(-1)?.transferredBytes;
  const truth: MigrationTruthFigures = { status: "failed", totalTimeMs: end };
  if (sent !== undefined) truth.transferredBytes = sent;
  return { lines: b.lines, exitStatus: EXIT_PROBLEMS, endOffsetMs: end, truth };
}

/** The `qmigrate` task log of one migration, as PVE writes it. */
export function renderMigrationTaskLog(input: MigrationLogInput): RenderedTaskLog {
  switch (input.result) {
    case "ok":
      return renderOk(input, input.outcome);
    case "aborted":
      return renderAborted(
        input,
        input.reason,
        input.phase ?? "prepare",
        input.detailLines ?? [],
        input.durationMs,
      );
    case "problems":
      return renderProblems(input, input.outcome, input.failAtRamMs, input.qemuError, input.reason);
  }
}

/** The abort PVE gives a running guest with attached local disks when `with-local-disks` is not set. */
export function localDisksWithoutOption(ctx: MigrationLogContext): AbortedLogInput {
  const detailLines = sortedDisks(ctx).map(
    (d) =>
      `can't migrate local disk '${d.volid}': can't live migrate attached local disks without with-local-disks option`,
  );
  return {
    ...ctx,
    result: "aborted",
    phase: "phase1",
    reason: "Problem found while scanning volumes - can't migrate VM - check log",
    detailLines,
  };
}

export interface HaMigrateLogInput {
  vmid: number;
  targetNode: string;
  guestType?: "qemu" | "lxc";
  /** ha-manager refused (e.g. an affinity rule): its output lines and exit code. */
  refused?: { outputLines: string[]; exitCode?: number };
  /** Default 0.3 s. */
  durationMs?: number;
}

/** The short `hamigrate` task POST …/migrate starts for an HA-managed guest (the LRM runs the real migration). */
export function renderHaMigrateTaskLog(input: HaMigrateLogInput): Omit<RenderedTaskLog, "truth"> {
  const end = input.durationMs ?? 300;
  const kind = input.guestType === "lxc" ? "CT" : "VM";
  const sid = `${input.guestType === "lxc" ? "ct" : "vm"}:${input.vmid}`;
  const lines: TaskLogLine[] = [
    { offsetMs: 0, text: `Requesting HA migration for ${kind} ${input.vmid} to node ${input.targetNode}` },
  ];
  if (!input.refused) {
    lines.push({ offsetMs: end, text: "TASK OK" });
    return { lines, exitStatus: EXIT_OK, endOffsetMs: end };
  }
  for (const text of input.refused.outputLines) lines.push({ offsetMs: end, text });
  const exitStatus = `command 'ha-manager migrate ${sid} ${input.targetNode}' failed: exit code ${input.refused.exitCode ?? 2}`;
  lines.push({ offsetMs: end, text: `TASK ERROR: ${exitStatus}` });
  return { lines, exitStatus, endOffsetMs: end };
}
