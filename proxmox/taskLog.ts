/**
 * Proxmox VE migration task log → structured report (pure, total, one pass).
 *
 * Works on the lines of a `qmigrate` / `vzmigrate` task (PVE 3 to 9) and of the short `hamigrate`
 * task PVE starts for HA-managed guests; also reads the block-job lines of `move-disk` tasks.
 *
 * Conventions of the report:
 * - Only what the log states is reported; a figure the log does not contain is left `undefined`.
 * - Task log timestamps are node-local wall-clock time without a zone. `startedAt` keeps them as
 *   written ("2025-01-04T00:34:24"); durations are differences between them (a DST change inside a
 *   migration would skew them by an hour — PVE's own `(duration …)` is preferred when present).
 * - `progress[].at` is milliseconds since the first timestamped line of the log.
 * - Sizes are bytes read back from PVE's `render_bytes` ("%.1f" + unit), so they carry its rounding.
 * - `transferredBytes` / `totalBytes` are the VM-state (RAM) phase; local-disk mirrors are reported in
 *   `diskMirrors`.
 * - Without a `TASK …` line the status is inferred from the migration's own final line
 *   (`migration finished successfully` / `migration aborted` / `migration finished with problems`), and
 *   is `running` otherwise; `taskEnded` says whether the TASK line was seen.
 */
import { parseRenderedBytes } from "../lib/bytes.ts";
import { parseUpid } from "./upid.ts";

export type MigrationTaskStatus = "completed" | "failed" | "aborted" | "running";
export type MigrationTaskKind = "qmigrate" | "vzmigrate" | "hamigrate" | "unknown";

export interface TaskLogContext {
  /** UPID of the task: gives the source node (where the task runs), the VM id and the task type. */
  upid?: string;
  /** Overrides the node taken from the UPID. */
  sourceNode?: string;
}

export interface MigrationProgressPoint {
  /** ms since the first timestamped line; undefined if the line itself had no timestamp. */
  at?: number;
  transferredBytes: number;
  totalBytes: number;
  /** Absent from PVE ≤ 5 lines (`migration status: active (transferred …)`). */
  speedBytesPerSecond?: number;
  /** Only PVE ≤ 5 lines state it. */
  remainingBytes?: number;
  /** `VM dirties lots of memory: X/s` — logged only when the guest dirties faster than it is sent. */
  dirtyRateBytesPerSecond?: number;
}

export interface LocalDisk {
  volid: string;
  replicated: boolean;
  /** Cloud-init/TPM images PVE regenerates or copies offline. */
  generated: boolean;
  /** PVE's reason the volume is part of the migration: "attached", "unused", "in current VM config", … */
  reference?: string;
  drive?: string;
  /** Volume id on the target (`volume 'A' is 'B' on the target`). */
  targetVolid?: string;
  /** `can't migrate local disk 'A': <problem>` */
  problem?: string;
}

export interface DiskMirrorPoint {
  /** Seconds-resolution elapsed time PVE prints (`in 7m 45s`). */
  elapsedMs: number;
  transferredBytes: number;
  totalBytes: number;
  percent: number;
}

/** A QEMU block mirror job (`drive-scsi0` up to PVE 8 / machine < 10.0, `mirror-scsi0` on PVE 9). */
export interface DiskMirror {
  jobId: string;
  drive: string;
  bandwidthLimitBytesPerSecond?: number;
  transferredBytes?: number;
  totalBytes?: number;
  percent?: number;
  elapsedMs?: number;
  ready: boolean;
  /** `Completed successfully.`, `mirror-job finished` or `Done.` after a cancel. */
  finished: boolean;
  cancelled: boolean;
  progress: DiskMirrorPoint[];
}

export interface MigrationTaskReport {
  status: MigrationTaskStatus;
  /** A `TASK OK|ERROR|WARNINGS` line was seen. */
  taskEnded: boolean;
  /** The TASK line without "TASK " ("OK", "ERROR: migration aborted", "WARNINGS: 2"). */
  taskResult?: string;
  taskKind: MigrationTaskKind;
  upid?: string;
  vmid?: number;
  guestType?: "qemu" | "lxc";
  sourceNode?: string;
  targetNode?: string;
  /** Address PVE migrates to (`to node 'pve1' (10.10.1.1)`). */
  targetAddress?: string;
  /** `use dedicated network address for sending migration traffic (X)` */
  migrationNetworkAddress?: string;
  /** First line `task started by HA resource agent`: the LRM ran it, not the API caller. */
  startedByHa: boolean;
  /** First timestamp, node-local, "YYYY-MM-DDTHH:MM:SS" (undefined for PVE ≤ 3 "Mon DD" stamps). */
  startedAt?: string;
  /** PVE's `(duration HH:MM:SS)` when logged, otherwise the span of the timestamps so far. */
  durationMs?: number;
  /** Last timestamp minus first timestamp. */
  logSpanMs?: number;
  /** Downtime PVE/QEMU reports (stop-and-copy); excludes target resume latency. */
  downtimeMs?: number;
  /** Limit configured at the start of the RAM phase. */
  downtimeLimitMs?: number;
  /** Last value of `auto-increased downtime to continue migration: N ms`. */
  autoIncreasedDowntimeMs?: number;
  autoIncreaseCount: number;
  speedLimitBytesPerSecond?: number;
  xbzrleCacheBytes?: number;
  /** VM-state bytes sent: `migration completed, transferred X` (8.3.9+) or the last progress line. */
  transferredBytes?: number;
  /** VM-state size (guest RAM) from the progress lines. */
  totalBytes?: number;
  vfioTransferredBytes?: number;
  averageSpeedBytesPerSecond?: number;
  progress: MigrationProgressPoint[];
  localDisks: LocalDisk[];
  diskMirrors: DiskMirror[];
  /** The most useful error text, or undefined when the migration did not fail. */
  error?: string;
  /** Every `ERROR:` line, without the prefix. */
  errorLines: string[];
  /** `migration status error: …` (QEMU's reason a live phase failed). */
  migrationStatusError?: string;
  warnings: string[];
  /** n of `TASK WARNINGS: n`. */
  warningCount?: number;
  /** Lines without timestamp that no rule recognised: output relayed from ssh/tunnel/ha-manager. */
  relayedLines: string[];
  /** What the log's wording implies about the PVE version, e.g. "PVE 9". */
  pveVersionHint?: string;
  lineCount: number;
}

export interface TaskLogParser {
  /** Feed lines in log order (e.g. the next page a poller read with `start=`). */
  push(lines: readonly string[]): void;
  /** The report for everything pushed so far (a fresh object each call). */
  result(): MigrationTaskReport;
}

const SIZE = String.raw`\d+(?:\.\d+)? (?:B|KiB|MiB|GiB|TiB|PiB)`;
const NUM = String.raw`\d+(?:\.\d+)?`;
const ISO_TS = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?: (.*))?$/;
const OLD_TS = /^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([ \d]\d) (\d\d):(\d\d):(\d\d)(?: (.*))?$/;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const RE = {
  progress: new RegExp(
    `^migration (?:active|device), transferred (${SIZE}) of (${SIZE}) VM-state, (${SIZE})/s`,
  ),
  vfio: new RegExp(String.raw`\(\+ (${SIZE}) VFIO-state\)`),
  dirty: new RegExp(`VM dirties lots of memory: (${SIZE})/s`),
  completedTransferred: new RegExp(`^migration completed, transferred (${SIZE}) VM-state`),
  average: new RegExp(`^average migration speed: (${SIZE})/s - downtime (${NUM}) ms`),
  oldSpeed: new RegExp(`^migration speed: (${NUM}) MB/s - downtime (${NUM}) ms`),
  oldStatus: new RegExp(
    `^migration status: active \\(transferred (${SIZE}|\\d+), remaining (${SIZE}|\\d+)\\), total (${SIZE}|\\d+)\\)`,
  ),
  status: /^migration status: ([a-z-]+)$/,
  statusError: /^migration status error: (.*)$/,
  finishedOk: /^migration finished successfull?y \(duration (\d+):(\d\d):(\d\d)\)/,
  problems: /^migration finished with problems(?: \(duration (\d+):(\d\d):(\d\d)\))?/,
  aborted: /^migration aborted(?: \(duration (\d+):(\d\d):(\d\d)\))?(?:: (.*))?$/,
  downtimeLimit: new RegExp(`^migration downtime limit: (${NUM}) ms`),
  oldDowntime: new RegExp(`^migrate_set_downtime: (${NUM})$`),
  autoIncreased: new RegExp(`^auto-increased downtime to continue migration: (${NUM}) ms`),
  speedLimit: new RegExp(`^migration speed limit: (${SIZE})/s`),
  cacheSize: new RegExp(`^migration (?:xbzrle )?cachesize: (${SIZE})`),
  starting: /^starting migration of (VM|CT) (\d+) to node '([^']+)'(?: \(([^)]*)\))?/,
  startingRemote: /^starting (VM|CT) (\d+) on remote node '([^']+)'/,
  haRequest: /^Requesting HA migration for (VM|CT) (\d+) to node (\S+)/,
  dedicated: /^use dedicated network address for sending migration traffic \(([^)]+)\)/,
  foundDisk: /^found (local, replicated|local|generated) disk '([^']+)'(?: \((.*)\))?$/,
  volumeOnTarget: /^volume '([^']+)' is '([^']+)' on the target/,
  driveSize: /^drive '([^']+)': size of disk '([^']+)' updated/,
  diskProblem: /^can't migrate local disk '([^']+)': (.*)$/,
  conntrack: /^conntrack state migration not supported or disabled/,
  warn: /^WARN(?:ING)?: (.*)$/,
  mirrorProgress: new RegExp(
    `^((?:drive|mirror)-([A-Za-z0-9_]+)): transferred (${SIZE}) of (${SIZE}) \\((${NUM})%\\) in ([0-9wdhms ]+?)(, ready|, still busy)?$`,
  ),
  mirrorEvent: /^((?:drive|mirror)-([A-Za-z0-9_]+)): (.*)$/,
  mirrorStart:
    /^drive mirror is starting for ((?:drive|mirror)-([A-Za-z0-9_]+))(?: with bandwidth limit: (\d+) KB\/s)?/,
  mirrorsReady: /^all '[a-z-]+' jobs are ready$/,
  taskOk: /^TASK OK$/,
  taskError: /^TASK ERROR: (.*)$/,
  taskWarnings: /^TASK WARNINGS: (\d+)$/,
} as const;

const GENERIC_TASK_ERRORS = new Set(["migration aborted", "migration problems"]);

interface Stamp {
  epochMs: number;
  iso?: string;
  message: string;
}

function bytes(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (/^\d+$/.test(text)) return Number(text);
  return parseRenderedBytes(text);
}

function hms(h: string | undefined, m: string | undefined, s: string | undefined): number | undefined {
  if (h === undefined || m === undefined || s === undefined) return undefined;
  return (Number(h) * 3600 + Number(m) * 60 + Number(s)) * 1000;
}

const DURATION_UNIT_MS: Record<string, number> = {
  w: 604_800_000,
  d: 86_400_000,
  h: 3_600_000,
  m: 60_000,
  s: 1000,
};

/** PVE render_duration ("7m 45s", "0s") → ms. */
function renderedDurationMs(text: string): number | undefined {
  let total = 0;
  let any = false;
  for (const m of text.matchAll(/(\d+)([wdhms])/g)) {
    total += Number(m[1]) * (DURATION_UNIT_MS[m[2] as string] ?? 0);
    any = true;
  }
  return any ? total : undefined;
}

class Accumulator implements TaskLogParser {
  private lineCount = 0;
  private firstEpoch: number | undefined;
  private lastEpoch: number | undefined;
  private startedAt: string | undefined;
  private oldYearShift = 0;
  private lastOldEpoch: number | undefined;

  private taskResult: string | undefined;
  private taskStatus: MigrationTaskStatus | undefined;
  private taskErrorText: string | undefined;
  private warningCount: number | undefined;

  private startedByHa = false;
  private haRequest = false;
  private sawStartingVm = false;
  private vmid: number | undefined;
  private guestType: "qemu" | "lxc" | undefined;
  private targetNode: string | undefined;
  private targetAddress: string | undefined;
  private migrationNetworkAddress: string | undefined;

  private reportedDurationMs: number | undefined;
  private finishedOk = false;
  private finishedWithProblems = false;
  private abortedReason: string[] | undefined;
  private sawAborted = false;

  private downtimeMs: number | undefined;
  private downtimeLimitMs: number | undefined;
  private autoIncreasedDowntimeMs: number | undefined;
  private autoIncreaseCount = 0;
  private speedLimit: number | undefined;
  private cacheBytes: number | undefined;
  private completedTransferred: number | undefined;
  private vfioTransferred: number | undefined;
  private averageSpeed: number | undefined;
  private readonly progress: MigrationProgressPoint[] = [];
  private migrationStatusError: string | undefined;

  private readonly localDisks = new Map<string, LocalDisk>();
  private readonly mirrors = new Map<string, DiskMirror>();

  private readonly errorLines: string[] = [];
  private readonly warnings: string[] = [];
  private readonly relayedLines: string[] = [];

  private sawConntrack = false;
  private sawMirrorJobId = false;
  private sawCompletedTransferred = false;
  private sawModernProgress = false;
  private sawOldProgress = false;
  private sawOldStamp = false;

  push(lines: readonly string[]): void {
    for (const line of lines) this.line(typeof line === "string" ? line : String(line));
  }

  private line(raw: string): void {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    this.lineCount++;
    const stamp = this.stamp(line);
    if (stamp) {
      this.firstEpoch ??= stamp.epochMs;
      if (this.startedAt === undefined && this.lastEpoch === undefined) this.startedAt = stamp.iso;
      this.lastEpoch = stamp.epochMs;
      this.message(stamp.message, stamp.epochMs);
      return;
    }
    if (this.unstamped(line)) return;
    if (!this.message(line, undefined)) this.relayedLines.push(line);
  }

  private stamp(line: string): Stamp | undefined {
    const iso = ISO_TS.exec(line);
    if (iso) {
      const [, y, mo, d, h, mi, s, msg] = iso;
      const epochMs = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
      if (!Number.isFinite(epochMs)) return undefined;
      return { epochMs, iso: `${y}-${mo}-${d}T${h}:${mi}:${s}`, message: msg ?? "" };
    }
    const old = OLD_TS.exec(line);
    if (old) {
      const [, mon, d, h, mi, s, msg] = old;
      // PVE ≤ 3 stamps have no year: use a leap year and step a year when the date goes backwards.
      const at = (year: number) =>
        Date.UTC(year, MONTHS.indexOf(mon ?? ""), Number(d), Number(h), Number(mi), Number(s));
      let epochMs = at(2000 + this.oldYearShift);
      if (this.lastOldEpoch !== undefined && epochMs < this.lastOldEpoch - 180 * 86_400_000) {
        this.oldYearShift++;
        epochMs = at(2000 + this.oldYearShift);
      }
      if (!Number.isFinite(epochMs)) return undefined;
      this.lastOldEpoch = epochMs;
      this.sawOldStamp = true;
      return { epochMs, message: msg ?? "" };
    }
    return undefined;
  }

  /** Lines PVE prints without a timestamp by design. */
  private unstamped(line: string): boolean {
    if (line.startsWith("TASK ")) {
      if (RE.taskOk.test(line)) {
        this.endTask("OK", "completed");
        return true;
      }
      const warn = RE.taskWarnings.exec(line);
      if (warn) {
        this.warningCount = Number(warn[1]);
        this.endTask(`WARNINGS: ${warn[1]}`, "completed");
        return true;
      }
      const err = RE.taskError.exec(line);
      if (err) {
        const text = (err[1] as string).trim();
        this.taskErrorText = text;
        this.endTask(`ERROR: ${text}`, text === "migration aborted" ? "aborted" : "failed");
        return true;
      }
    }
    if (line === "task started by HA resource agent") {
      this.startedByHa = true;
      return true;
    }
    return line === "no content" && this.lineCount === 1;
  }

  private endTask(result: string, status: MigrationTaskStatus): void {
    this.taskResult = result;
    this.taskStatus = status;
  }

  /** Returns whether the message was recognised. */
  private message(msg: string, epochMs: number | undefined): boolean {
    const at = epochMs !== undefined && this.firstEpoch !== undefined ? epochMs - this.firstEpoch : undefined;

    if (msg.startsWith("migration ")) return this.migrationLine(msg, at);
    if (msg.startsWith("ERROR: ")) {
      this.errorLine(msg.slice(7));
      return true;
    }
    if (msg.startsWith("drive-") || msg.startsWith("mirror-")) return this.mirrorLine(msg);

    let m = RE.average.exec(msg);
    if (m) {
      this.averageSpeed = bytes(m[1]);
      this.downtimeMs = Number(m[2]);
      return true;
    }
    m = RE.autoIncreased.exec(msg);
    if (m) {
      this.autoIncreasedDowntimeMs = Number(m[1]);
      this.autoIncreaseCount++;
      return true;
    }
    m = RE.starting.exec(msg);
    if (m) {
      this.sawStartingVm = true;
      this.guestType = m[1] === "CT" ? "lxc" : "qemu";
      this.vmid = Number(m[2]);
      this.targetNode = m[3];
      if (m[4]) this.targetAddress = m[4];
      return true;
    }
    m = RE.startingRemote.exec(msg);
    if (m) {
      this.vmid ??= Number(m[2]);
      this.targetNode ??= m[3];
      return true;
    }
    m = RE.haRequest.exec(msg);
    if (m) {
      this.haRequest = true;
      this.guestType = m[1] === "CT" ? "lxc" : "qemu";
      this.vmid = Number(m[2]);
      this.targetNode = m[3];
      return true;
    }
    m = RE.dedicated.exec(msg);
    if (m) {
      this.migrationNetworkAddress = m[1];
      return true;
    }
    m = RE.foundDisk.exec(msg);
    if (m) {
      const disk = this.disk(m[2] as string);
      disk.replicated = m[1] === "local, replicated";
      disk.generated = m[1] === "generated";
      if (m[3] !== undefined) disk.reference = m[3];
      return true;
    }
    m = RE.volumeOnTarget.exec(msg);
    if (m) {
      this.disk(m[1] as string).targetVolid = m[2];
      return true;
    }
    m = RE.driveSize.exec(msg);
    if (m) {
      this.disk(m[2] as string).drive = m[1];
      return true;
    }
    m = RE.diskProblem.exec(msg);
    if (m) {
      this.disk(m[1] as string).problem = m[2];
      this.warnings.push(msg);
      return true;
    }
    m = RE.warn.exec(msg);
    if (m) {
      this.warnings.push(m[1] as string);
      return true;
    }
    if (RE.conntrack.test(msg)) {
      this.sawConntrack = true;
      this.warnings.push(msg);
      return true;
    }
    m = RE.oldDowntime.exec(msg);
    if (m) {
      this.downtimeLimitMs ??= Math.round(Number(m[1]) * 1000);
      return true;
    }
    m = RE.mirrorStart.exec(msg);
    if (m) {
      const job = this.mirror(m[1] as string, m[2] as string);
      if (m[3] !== undefined) job.bandwidthLimitBytesPerSecond = Number(m[3]) * 1024;
      return true;
    }
    return RE.mirrorsReady.test(msg);
  }

  private migrationLine(msg: string, at: number | undefined): boolean {
    let m = RE.progress.exec(msg);
    if (m) {
      const transferredBytes = bytes(m[1]);
      const totalBytes = bytes(m[2]);
      if (transferredBytes === undefined || totalBytes === undefined) return false;
      const point: MigrationProgressPoint = { transferredBytes, totalBytes };
      if (at !== undefined) point.at = at;
      const speed = bytes(m[3]);
      if (speed !== undefined) point.speedBytesPerSecond = speed;
      const dirty = RE.dirty.exec(msg);
      if (dirty) point.dirtyRateBytesPerSecond = bytes(dirty[1]);
      const vfio = RE.vfio.exec(msg);
      if (vfio) this.vfioTransferred = bytes(vfio[1]);
      this.progress.push(point);
      this.sawModernProgress = true;
      return true;
    }
    m = RE.oldStatus.exec(msg);
    if (m) {
      const transferredBytes = bytes(m[1]);
      const remainingBytes = bytes(m[2]);
      const totalBytes = bytes(m[3]);
      if (transferredBytes === undefined || totalBytes === undefined) return false;
      const point: MigrationProgressPoint = { transferredBytes, totalBytes };
      if (at !== undefined) point.at = at;
      if (remainingBytes !== undefined) point.remainingBytes = remainingBytes;
      this.progress.push(point);
      this.sawOldProgress = true;
      return true;
    }
    m = RE.completedTransferred.exec(msg);
    if (m) {
      this.completedTransferred = bytes(m[1]);
      const vfio = RE.vfio.exec(msg);
      if (vfio) this.vfioTransferred = bytes(vfio[1]);
      this.sawCompletedTransferred = true;
      return true;
    }
    m = RE.finishedOk.exec(msg);
    if (m) {
      this.finishedOk = true;
      this.reportedDurationMs = hms(m[1], m[2], m[3]);
      return true;
    }
    m = RE.status.exec(msg);
    if (m) return true;
    m = RE.statusError.exec(msg);
    if (m) {
      this.migrationStatusError = m[1];
      return true;
    }
    m = RE.oldSpeed.exec(msg);
    if (m) {
      this.averageSpeed = Math.round(Number(m[1]) * 1024 * 1024);
      this.downtimeMs = Number(m[2]);
      return true;
    }
    m = RE.downtimeLimit.exec(msg);
    if (m) {
      this.downtimeLimitMs ??= Number(m[1]);
      return true;
    }
    m = RE.speedLimit.exec(msg);
    if (m) {
      this.speedLimit = bytes(m[1]);
      return true;
    }
    m = RE.cacheSize.exec(msg);
    if (m) {
      this.cacheBytes = bytes(m[1]);
      return true;
    }
    // Other `migration …` chatter (capabilities, waiting for transition) carries no figure.
    return true;
  }

  private errorLine(text: string): void {
    this.errorLines.push(text);
    const aborted = RE.aborted.exec(text);
    if (aborted) {
      this.sawAborted = true;
      this.reportedDurationMs = hms(aborted[1], aborted[2], aborted[3]) ?? this.reportedDurationMs;
      this.abortedReason = aborted[4] ? [aborted[4]] : [];
      return;
    }
    const problems = RE.problems.exec(text);
    if (problems) {
      this.finishedWithProblems = true;
      this.reportedDurationMs = hms(problems[1], problems[2], problems[3]) ?? this.reportedDurationMs;
      return;
    }
    // A multi-line abort reason is logged as consecutive ERROR lines.
    if (this.abortedReason) this.abortedReason.push(text);
  }

  private mirrorLine(msg: string): boolean {
    const p = RE.mirrorProgress.exec(msg);
    if (p) {
      const transferredBytes = bytes(p[3]);
      const totalBytes = bytes(p[4]);
      const elapsedMs = renderedDurationMs(p[6] as string);
      if (transferredBytes === undefined || totalBytes === undefined || elapsedMs === undefined) return false;
      const job = this.mirror(p[1] as string, p[2] as string);
      const percent = Number(p[5]);
      job.transferredBytes = transferredBytes;
      job.totalBytes = totalBytes;
      job.percent = percent;
      job.elapsedMs = elapsedMs;
      if (p[7] === ", ready") job.ready = true;
      job.progress.push({ elapsedMs, transferredBytes, totalBytes, percent });
      return true;
    }
    const e = RE.mirrorEvent.exec(msg);
    if (!e) return false;
    const job = this.mirror(e[1] as string, e[2] as string);
    const event = e[3] as string;
    if (/^(?:Completed successfully\.|[a-z-]+-job finished|Done\.)$/.test(event)) job.finished = true;
    else if (event.startsWith("Cancelling block job")) job.cancelled = true;
    return true;
  }

  private mirror(jobId: string, drive: string): DiskMirror {
    if (jobId.startsWith("mirror-")) this.sawMirrorJobId = true;
    let job = this.mirrors.get(jobId);
    if (!job) {
      job = { jobId, drive, ready: false, finished: false, cancelled: false, progress: [] };
      this.mirrors.set(jobId, job);
    }
    return job;
  }

  private disk(volid: string): LocalDisk {
    let disk = this.localDisks.get(volid);
    if (!disk) {
      disk = { volid, replicated: false, generated: false };
      this.localDisks.set(volid, disk);
    }
    return disk;
  }

  result(): MigrationTaskReport {
    const status: MigrationTaskStatus =
      this.taskStatus ??
      (this.sawAborted
        ? "aborted"
        : this.finishedWithProblems
          ? "failed"
          : this.finishedOk
            ? "completed"
            : "running");
    const last = this.progress.at(-1);
    const logSpanMs =
      this.firstEpoch !== undefined && this.lastEpoch !== undefined
        ? this.lastEpoch - this.firstEpoch
        : undefined;

    const report: MigrationTaskReport = {
      status,
      taskEnded: this.taskResult !== undefined,
      taskKind: this.haRequest
        ? "hamigrate"
        : this.sawStartingVm
          ? this.guestType === "lxc"
            ? "vzmigrate"
            : "qmigrate"
          : "unknown",
      startedByHa: this.startedByHa,
      autoIncreaseCount: this.autoIncreaseCount,
      progress: this.progress.map((p) => ({ ...p })),
      localDisks: [...this.localDisks.values()].map((d) => ({ ...d })),
      diskMirrors: [...this.mirrors.values()].map((j) => ({ ...j, progress: [...j.progress] })),
      errorLines: [...this.errorLines],
      warnings: [...this.warnings],
      relayedLines: [...this.relayedLines],
      lineCount: this.lineCount,
    };
    const set = <K extends keyof MigrationTaskReport>(key: K, value: MigrationTaskReport[K] | undefined) => {
      if (value !== undefined) report[key] = value;
    };
    set("taskResult", this.taskResult);
    set("vmid", this.vmid);
    set("guestType", this.guestType);
    set("targetNode", this.targetNode);
    set("targetAddress", this.targetAddress);
    set("migrationNetworkAddress", this.migrationNetworkAddress);
    set("startedAt", this.startedAt);
    set("durationMs", this.reportedDurationMs ?? logSpanMs);
    set("logSpanMs", logSpanMs);
    set("downtimeMs", this.downtimeMs);
    set("downtimeLimitMs", this.downtimeLimitMs);
    set("autoIncreasedDowntimeMs", this.autoIncreasedDowntimeMs);
    set("speedLimitBytesPerSecond", this.speedLimit);
    set("xbzrleCacheBytes", this.cacheBytes);
    set("transferredBytes", this.completedTransferred ?? last?.transferredBytes);
    set("totalBytes", last?.totalBytes);
    set("vfioTransferredBytes", this.vfioTransferred);
    set("averageSpeedBytesPerSecond", this.averageSpeed);
    set("migrationStatusError", this.migrationStatusError);
    set("warningCount", this.warningCount);
    set("pveVersionHint", this.versionHint());
    if (status !== "completed") set("error", this.errorText());
    return report;
  }

  private errorText(): string | undefined {
    if (this.abortedReason && this.abortedReason.length > 0) return this.abortedReason.join("\n");
    const cause = this.errorLines.find((l) => !RE.problems.test(l) && !RE.aborted.test(l));
    if (cause !== undefined) {
      return this.migrationStatusError ? `${cause} (${this.migrationStatusError})` : cause;
    }
    if (this.migrationStatusError) return this.migrationStatusError;
    const task = this.taskErrorText;
    if (task === undefined) return undefined;
    // The hamigrate task relays ha-manager's reason (e.g. an affinity rule) as plain lines.
    if (this.haRequest && !GENERIC_TASK_ERRORS.has(task) && this.relayedLines.length > 0) {
      return [...this.relayedLines, task].join("\n");
    }
    return task;
  }

  private versionHint(): string | undefined {
    if (this.sawMirrorJobId || this.sawConntrack) return "PVE 9";
    if (this.sawCompletedTransferred) return "PVE 8.4 or later";
    if (this.sawModernProgress) return "PVE 6 or later";
    if (this.sawOldStamp) return "PVE 3 or older";
    if (this.sawOldProgress) return "PVE 5 or older";
    return undefined;
  }
}

export function createTaskLogParser(context: TaskLogContext = {}): TaskLogParser {
  const acc = new Accumulator();
  return {
    push: (lines) => acc.push(lines),
    result: () => withContext(acc.result(), context),
  };
}

function withContext(report: MigrationTaskReport, context: TaskLogContext): MigrationTaskReport {
  let upidNode: string | undefined;
  if (context.upid !== undefined) {
    report.upid = context.upid;
    try {
      const upid = parseUpid(context.upid);
      upidNode = upid.node;
      if (report.vmid === undefined && /^\d+$/.test(upid.id)) report.vmid = Number(upid.id);
      if (
        report.taskKind === "unknown" &&
        (upid.type === "qmigrate" || upid.type === "vzmigrate" || upid.type === "hamigrate")
      ) {
        report.taskKind = upid.type;
      }
    } catch {
      // An unreadable UPID only costs the facts it would have given.
    }
  }
  const sourceNode = context.sourceNode ?? upidNode;
  if (sourceNode !== undefined) report.sourceNode = sourceNode;
  return report;
}

/** Parses the lines of one task log (the `t` of the API's `[{n,t}]`, or the lines of a text file). */
export function parseTaskLog(lines: readonly string[], context?: TaskLogContext): MigrationTaskReport {
  const parser = createTaskLogParser(context);
  parser.push(lines);
  return parser.result();
}

/** Parses a task log as text (LF or CRLF). */
export function parseTaskLogText(text: string, context?: TaskLogContext): MigrationTaskReport {
  return parseTaskLog(splitLines(text), context);
}

/** The API's `[{n,t}]` lines, in `n` order. */
export function parseTaskLogEntries(
  entries: readonly { n: number; t: string }[],
  context?: TaskLogContext,
): MigrationTaskReport {
  const sorted = [...entries].sort((a, b) => a.n - b.n);
  return parseTaskLog(
    sorted.map((e) => e.t),
    context,
  );
}

export function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === "") lines.pop();
  return lines;
}
