/**
 * Pre-copy live migration model (pure, deterministic): QEMU pre-copy as Proxmox VE drives it.
 *
 * What it follows, and the few places it deliberately simplifies:
 * - Round 1 walks all guest RAM. Touched pages cost a page plus an 8-byte header on the wire; never-touched
 *   (zero) pages cost a 9-byte marker. Pending memory is counted in pages, as QEMU's `remaining` is, so the
 *   zero pages make pending fall fast while little goes over the wire.
 * - The guest dirties its hot working set while RAM is sent: new dirt saturates at the working set
 *   (dP/dt = D·(1 − P/W) − b). Rounds are the passes over the dirty bitmap; they are counted, the pending
 *   amount itself is integrated in closed form between events.
 * - Switch-over (stop-and-copy) happens the moment pending memory fits in the downtime limit at the link
 *   bandwidth, minus the fixed switch-over cost (device state, stop) and a seeded margin standing for QEMU's
 *   iteration granularity. The PVE/QEMU-reported downtime is the stop-and-copy time.
 * - After round 1 PVE doubles the limit on stalled migrations (`auto-increased downtime …`) and QEMU's
 *   auto-converge throttles the vCPUs (20 %, +10 % steps, up to 99 %) while the guest dirties faster than
 *   half the link. Both run on fixed schedules counted from the end of round 1 rather than on the observed
 *   progress: with schedules that do not depend on the dirty rate, a busier guest can never converge sooner,
 *   which keeps the model monotone (more dirtying never helps, more bandwidth never hurts).
 * - PVE polls QEMU every second (every 100 ms once what remains is below the average per poll) and only
 *   resumes the target after it has seen `completed` and moved the config: the guest-visible outage is the
 *   downtime plus that detection and resume latency (the target runs with `-S`).
 * - Local disks (with-local-disks) are mirrored before the RAM phase at the link bandwidth minus the guest's
 *   write rate; the mirror then runs in active (synchronous) mode and keeps that share of the link.
 */

export interface Workload {
  name: "idle" | "video" | "game";
  /** Bytes per second the guest dirties while it runs. */
  dirtyRateBytesPerSecond: number;
  /** Hot set re-dirtied over and over; bounds what one round can leave dirty. */
  workingSetBytes: number;
  /** Fraction of memory ever touched (zero pages are cheap to send). */
  touchedFraction: number;
  /** Guest disk writes while a local disk is mirrored (default: none). */
  diskWriteBytesPerSecond?: number;
}

export interface MigrationInput {
  memoryBytes: number;
  workload: Workload;
  bandwidthBytesPerSecond: number;
  /** PVE default 100 ms; doubled when a round does not converge. */
  downtimeLimitMs?: number;
  /** Local disks mirrored before the RAM phase (with-local-disks). */
  localDiskBytes?: number;
  /** Seeds the small deterministic variations (fixed costs, switch-over margin, logged speeds). Default 0. */
  seed?: number;
  /** Ceiling of the auto-increased limit (QEMU's maximum, 2 000 000 ms, by default). */
  maxDowntimeLimitMs?: number;
  /** Safety stop: a RAM phase still running after this long is switched over regardless. Default 24 h. */
  maxRamPhaseMs?: number;
}

export interface ProgressPoint {
  /** ms since the RAM phase started. */
  atMs: number;
  transferredBytes: number;
  totalBytes: number;
  speedBytesPerSecond: number;
  /** QEMU's `remaining` (pending pages × page size) at that poll. */
  remainingBytes?: number;
  /** QEMU's measured dirty rate (0 until the first bitmap sync after round 1). */
  dirtyRateBytesPerSecond?: number;
}

/** Offsets in ms from the start of the task (the UPID start time). */
export interface MigrationTimeline {
  /** Preparation done: `starting migration of VM …`. */
  prepareDoneMs: number;
  /** `starting VM … on remote node`. */
  targetStartBeginMs: number;
  /** Target QEMU listening: `start remote tunnel`. */
  targetStartedMs: number;
  /** `ssh tunnel ver 1`. */
  tunnelReadyMs: number;
  /** `drive mirror is starting for …` (with local disks). */
  diskMirrorStartMs?: number;
  /** The poll that logged the mirror `ready` (with local disks). */
  diskMirrorReadyMs?: number;
  /** `start migrate command to …`: the RAM phase starts. */
  ramStartMs: number;
  /** Source guest paused for stop-and-copy: the outage starts. */
  switchoverMs: number;
  /** QEMU finished the stop-and-copy (switchover + downtime). */
  qemuCompletedMs: number;
  /** The poll that saw `completed` (the `average migration speed …` line). */
  completionLoggedMs: number;
  /** Target guest resumed: the outage ends. */
  resumedMs: number;
  /** `migration finished successfully`. */
  endMs: number;
}

export interface DowntimeIncrease {
  /** ms since the RAM phase started (a poll instant). */
  atMs: number;
  limitMs: number;
  /** The doubling hit the ceiling (PVE logs `capping downtime limit to maximum possible`). */
  capped: boolean;
}

export interface DiskMirrorOutcome {
  totalBytes: number;
  /** Bytes the mirror sent until ready (the disk plus what the guest rewrote meanwhile). */
  transferredBytes: number;
  /** One point per second of the mirror, as PVE prints them; `atMs` since the mirror started. */
  progress: Array<{ atMs: number; transferredBytes: number; ready: boolean }>;
}

export interface MigrationOutcome {
  rounds: number;
  converged: boolean;
  /** Downtime limit in force when the switchover happened. */
  finalDowntimeLimitMs: number;
  /** Whole task, set-up to finish. */
  totalTimeMs: number;
  /** RAM phase only (what `average migration speed` is computed over). */
  ramPhaseMs: number;
  /** PVE/QEMU-reported downtime (stop-and-copy). */
  downtimeMs: number;
  /** Guest-visible outage: downtime plus target resume latency (what clients feel). */
  clientOutageMs: number;
  transferredBytes: number;
  averageSpeedBytesPerSecond: number;
  /** ~1 per second, as PVE logs them. */
  progress: ProgressPoint[];
  /** QEMU's RAM total (`of X VM-state`): guest memory plus video/firmware RAM. */
  vmStateTotalBytes: number;
  /** The configured limit the RAM phase started with. */
  initialDowntimeLimitMs: number;
  downtimeIncreases: DowntimeIncrease[];
  /** Auto-converge CPU throttle in force at the switchover, in percent. */
  throttlePercent: number;
  timeline: MigrationTimeline;
  diskMirror?: DiskMirrorOutcome;
}

const KiB = 1024;
const MiB = 1024 * KiB;

export const PAGE_SIZE = 4096;
/** What 1 Gbit/s and 10 Gbit/s links carry in practice (TCP/ssh overhead included). */
export const LINK_1GBIT_BYTES_PER_SECOND = 117 * MiB;
export const LINK_10GBIT_BYTES_PER_SECOND = 1170 * MiB;
export const PVE_DEFAULT_DOWNTIME_LIMIT_MS = 100;
/** QEMU's ceiling for `downtime-limit` (PVE caps its doubling there). */
export const QEMU_MAX_DOWNTIME_LIMIT_MS = 2_000_000;

/** A data page on the wire: the page and its 8-byte header. */
const DATA_PAGE_WIRE = (PAGE_SIZE + 8) / PAGE_SIZE;
/** A zero page on the wire: header plus one fill byte. */
const ZERO_PAGE_WIRE = 9 / PAGE_SIZE;
/** VGA memory and firmware ROMs QEMU migrates with guest RAM (why 4 GiB shows as ~4113 MiB). */
const DEVICE_RAM_BYTES = 17 * MiB;
/** Device state sent during stop-and-copy. */
const DEVICE_STATE_BYTES = 1 * MiB;

/** Fixed costs in ms; `[base, spread]` means base + spread × seeded u ∈ [0, 1). */
export const TIMING = {
  /** prepare(): config checks and the ssh reachability test. */
  prepare: [280, 160],
  /** `qm start --migratedfrom` on the target until it listens (the real vm105 log shows ~4 s). */
  targetStart: [3300, 600],
  /** Target allocates and exports each local disk over NBD. */
  targetDiskSetup: [350, 150],
  /** ssh tunnel up. */
  tunnel: [550, 350],
  /** capabilities and parameters before `start migrate command`. */
  params: [40, 20],
  /** mirror set-up, and the switch to actively synced mode. */
  mirrorStart: [30, 20],
  mirrorActive: [50, 30],
  /** Stop-and-copy fixed part (vm_stop, drain) besides the device state transfer. */
  switchoverFixed: [12, 0],
  /** Seeded margin below the limit at which QEMU switches over (its iteration granularity). */
  switchoverMargin: [0, 25],
  /** After `completed` is seen: move the config and send `resume` through the tunnel. */
  resume: [35, 30],
  /** With local disks, before resuming: block-job completion poll (sleeps 1 s) and `qm nbdstop` over ssh. */
  blockJobFinish: [1030, 40],
  nbdStop: [300, 150],
  /** After the resume: stop the source guest, release locks, clean up (vm105: ~4 s). */
  cleanup: [3600, 700],
} as const satisfies Record<string, readonly [number, number]>;

/** Auto-converge: first throttle step this long after round 1, then every step interval. */
const THROTTLE_FIRST_S = 4;
const THROTTLE_EVERY_S = 4;
const THROTTLE_INITIAL = 0.2;
const THROTTLE_INCREMENT = 0.1;
const THROTTLE_MAX = 0.99;
/** QEMU throttles only while the guest dirties more than this share of what is sent. */
const THROTTLE_TRIGGER_SHARE = 0.5;
/** PVE doubles the limit after 6 polls counted as stalled; a stalled poll comes about every other second. */
const DOUBLE_EVERY_S = 12;
/** Shortest pass QEMU makes over the bitmap (one iteration), for counting rounds. */
const MIN_ROUND_S = 0.05;
const POLL_MS = 1000;
const FAST_POLL_MS = 100;

export const WORKLOADS: Record<Workload["name"], Workload> = {
  /** A server waiting for work: timers and logs dirty a few hundred KiB per second. */
  idle: {
    name: "idle",
    dirtyRateBytesPerSecond: 128 * KiB,
    workingSetBytes: 64 * MiB,
    touchedFraction: 0.35,
    diskWriteBytesPerSecond: 64 * KiB,
  },
  /** Offline video playback: decoded frames rewrite a small set of buffers at a steady pace. */
  video: {
    name: "video",
    dirtyRateBytesPerSecond: 24 * MiB,
    workingSetBytes: 256 * MiB,
    touchedFraction: 0.55,
    diskWriteBytesPerSecond: 256 * KiB,
  },
  /** A game: world state and textures rewritten fast over a large hot set. */
  game: {
    name: "game",
    dirtyRateBytesPerSecond: 400 * MiB,
    workingSetBytes: 1536 * MiB,
    touchedFraction: 0.8,
    diskWriteBytesPerSecond: 2 * MiB,
  },
};

/** splitmix32: a seeded u ∈ [0, 1) per (seed, stream). */
function seeded(seed: number, stream: number): number {
  let x = (Math.imul(seed | 0, 0x9e3779b1) + Math.imul(stream + 1, 0x85ebca6b)) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
  x ^= x >>> 15;
  return (x >>> 0) / 4294967296;
}

function cost(key: keyof typeof TIMING, seed: number, stream: number): number {
  const [base, spread] = TIMING[key];
  return Math.round(base + spread * seeded(seed, stream));
}

function check(name: string, value: number | undefined, min: number, allowEqual: boolean): void {
  if (value === undefined) return;
  if (!Number.isFinite(value) || (allowEqual ? value < min : value <= min)) {
    throw new RangeError(`migration model: ${name} must be a finite number ${allowEqual ? "≥" : ">"} ${min}`);
  }
}

function validate(input: MigrationInput): void {
  check("memoryBytes", input.memoryBytes, 0, false);
  check("bandwidthBytesPerSecond", input.bandwidthBytesPerSecond, 0, false);
  check("downtimeLimitMs", input.downtimeLimitMs, 0, true);
  check("localDiskBytes", input.localDiskBytes, 0, true);
  check("maxDowntimeLimitMs", input.maxDowntimeLimitMs, 0, false);
  check("maxRamPhaseMs", input.maxRamPhaseMs, 0, false);
  const w = input.workload;
  check("workload.dirtyRateBytesPerSecond", w.dirtyRateBytesPerSecond, 0, true);
  check("workload.workingSetBytes", w.workingSetBytes, 0, false);
  check("workload.diskWriteBytesPerSecond", w.diskWriteBytesPerSecond, 0, true);
  if (!(w.touchedFraction >= 0 && w.touchedFraction <= 1)) {
    throw new RangeError("migration model: workload.touchedFraction must be within [0, 1]");
  }
}

/** One stretch of the post-round-1 phase with constant coefficients: dP/dt = d·(1 − P/W) − b. */
interface Segment {
  t0: number;
  t1: number;
  p0: number;
  dirty: number;
}

interface RamPhase {
  /** Seconds since RAM start at which the switchover begins. */
  switchover: number;
  /** Pending pages (bytes) and wire bytes still to send at the switchover. */
  wireAtSwitchover: number;
  converged: boolean;
  limitMs: number;
  throttle: number;
  increases: DowntimeIncrease[];
  /** Pending (page basis) at time t ≤ switchover. */
  pending: (t: number) => number;
  /** QEMU's measured dirty rate at time t (page basis). */
  dirtyRate: (t: number) => number;
  roundOneEnd: number;
}

interface RamParams {
  total: number;
  touchedFraction: number;
  dirty: number;
  workingSet: number;
  /** Wire bytes per second available to RAM. */
  bandwidth: number;
  limitMs: number;
  maxLimitMs: number;
  maxSeconds: number;
  /** Fixed part of the downtime (ms) and the seeded margin (ms). */
  fixedMs: number;
  marginMs: number;
}

/** Pending (page basis) threshold that fits in `limitMs`. */
function thresholdFor(p: RamParams, limitMs: number): number {
  const pageRate = p.bandwidth / DATA_PAGE_WIRE;
  return (Math.max(0, limitMs - p.fixedMs - p.marginMs) / 1000) * pageRate;
}

function effectiveDirty(p: RamParams, throttle: number): number {
  const floor = (THROTTLE_TRIGGER_SHARE * p.bandwidth) / DATA_PAGE_WIRE;
  return Math.min(p.dirty, Math.max(p.dirty * (1 - throttle), floor));
}

/** Closed-form pending after `dt` seconds of a segment (clamped at 0: nothing left to send). */
function evolve(p0: number, dirty: number, workingSet: number, pageRate: number, dt: number): number {
  if (dt <= 0) return p0;
  if (dirty <= 0) return Math.max(0, p0 - pageRate * dt);
  const k = dirty / workingSet;
  const pInf = workingSet * (1 - pageRate / dirty);
  return Math.max(0, pInf + (p0 - pInf) * Math.exp(-k * dt));
}

/** First time within [0, dtMax] the segment's pending falls to `theta`, or undefined. */
function crossing(
  p0: number,
  dirty: number,
  workingSet: number,
  pageRate: number,
  theta: number,
  dtMax: number,
): number | undefined {
  if (p0 <= theta) return 0;
  let dt: number;
  if (dirty <= 0) {
    dt = (p0 - theta) / pageRate;
  } else {
    const k = dirty / workingSet;
    const pInf = workingSet * (1 - pageRate / dirty);
    if (pInf >= theta) return undefined;
    dt = Math.log((p0 - pInf) / (theta - pInf)) / k;
  }
  return dt <= dtMax ? dt : undefined;
}

function simulateRam(p: RamParams): RamPhase {
  const { total, workingSet, dirty } = p;
  const pageRate = p.bandwidth / DATA_PAGE_WIRE;
  const wireRoundOne =
    total * (p.touchedFraction * DATA_PAGE_WIRE + (1 - p.touchedFraction) * ZERO_PAGE_WIRE);
  const roundOneEnd = wireRoundOne / p.bandwidth;
  const scanRate = total / roundOneEnd;
  const hot = (t: number) => (dirty > 0 ? workingSet * (1 - Math.exp((-dirty * t) / workingSet)) : 0);
  const roundOnePending = (t: number) => Math.max(0, total - scanRate * t) + hot(t);
  const roundOneWire = (t: number) => Math.max(0, wireRoundOne - p.bandwidth * t) + hot(t) * DATA_PAGE_WIRE;

  const theta0 = thresholdFor(p, p.limitMs);
  const base = {
    increases: [] as DowntimeIncrease[],
    roundOneEnd,
  };

  if (roundOneEnd >= p.maxSeconds && roundOnePending(p.maxSeconds) > theta0) {
    const t = p.maxSeconds;
    return {
      ...base,
      switchover: t,
      wireAtSwitchover: roundOneWire(t),
      converged: false,
      limitMs: p.limitMs,
      throttle: 0,
      pending: (x) => roundOnePending(Math.min(x, t)),
      dirtyRate: () => 0,
    };
  }

  // Round 1: unsent memory falls linearly, the hot set fills up: pending is concave, so below the
  // threshold it is only near the start (huge pending, not reachable) or on a final stretch.
  if (roundOnePending(0) <= theta0 || roundOnePending(roundOneEnd) <= theta0) {
    let lo: number;
    let hi: number;
    if (roundOnePending(0) <= theta0) {
      lo = 0;
      hi = 0;
    } else {
      const peak = dirty > scanRate ? (workingSet / dirty) * Math.log(dirty / scanRate) : 0;
      lo = Math.min(Math.max(peak, 0), roundOneEnd);
      hi = roundOneEnd;
      for (let i = 0; i < 200 && hi - lo > 1e-9 * Math.max(1, hi); i++) {
        const mid = (lo + hi) / 2;
        if (roundOnePending(mid) <= theta0) hi = mid;
        else lo = mid;
      }
    }
    const t = hi;
    return {
      ...base,
      switchover: t,
      wireAtSwitchover: roundOneWire(t),
      converged: true,
      limitMs: p.limitMs,
      throttle: 0,
      pending: (x) => roundOnePending(Math.min(x, t)),
      dirtyRate: () => 0,
    };
  }

  // After round 1: integrate in closed form between throttle steps and limit doublings.
  const segments: Segment[] = [];
  let t = roundOneEnd;
  let pending = hot(roundOneEnd);
  let limitMs = p.limitMs;
  let throttle = 0;
  let nextThrottle = roundOneEnd + THROTTLE_FIRST_S;
  let nextDouble = Math.ceil(roundOneEnd - 1e-9) + DOUBLE_EVERY_S;
  const increases: DowntimeIncrease[] = [];
  let switchover: number | undefined;
  let converged = true;
  for (let guard = 0; guard < 1_000_000; guard++) {
    const d = effectiveDirty(p, throttle);
    const theta = thresholdFor(p, limitMs);
    const end = Math.min(nextThrottle, nextDouble, p.maxSeconds);
    const dt = crossing(pending, d, workingSet, pageRate, theta, end - t);
    if (dt !== undefined) {
      segments.push({ t0: t, t1: t + dt, p0: pending, dirty: d });
      switchover = t + dt;
      pending = evolve(pending, d, workingSet, pageRate, dt);
      break;
    }
    segments.push({ t0: t, t1: end, p0: pending, dirty: d });
    pending = evolve(pending, d, workingSet, pageRate, end - t);
    t = end;
    if (t >= p.maxSeconds) {
      switchover = t;
      converged = false;
      break;
    }
    if (t >= nextThrottle) {
      throttle = throttle === 0 ? THROTTLE_INITIAL : Math.min(THROTTLE_MAX, throttle + THROTTLE_INCREMENT);
      nextThrottle += THROTTLE_EVERY_S;
    }
    if (t >= nextDouble) {
      if (limitMs < p.maxLimitMs) {
        const doubled = limitMs * 2;
        const capped = doubled > p.maxLimitMs;
        limitMs = capped ? p.maxLimitMs : doubled;
        increases.push({ atMs: Math.round(t * 1000), limitMs, capped });
      }
      nextDouble += DOUBLE_EVERY_S;
    }
  }
  if (switchover === undefined) {
    switchover = t;
    converged = false;
  }
  const at = (x: number): { seg: Segment; dt: number } | undefined => {
    let lo = 0;
    let hi = segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((segments[mid] as Segment).t0 <= x) lo = mid;
      else hi = mid - 1;
    }
    const seg = segments[lo];
    return seg ? { seg, dt: Math.min(x, seg.t1) - seg.t0 } : undefined;
  };
  const final = switchover;
  return {
    ...base,
    increases,
    switchover: final,
    wireAtSwitchover: pending * DATA_PAGE_WIRE,
    converged,
    limitMs,
    throttle,
    pending: (x) => {
      if (x < roundOneEnd) return roundOnePending(x);
      const s = at(Math.min(x, final));
      return s ? evolve(s.seg.p0, s.seg.dirty, workingSet, pageRate, s.dt) : pending;
    },
    dirtyRate: (x) => {
      if (x < roundOneEnd) return 0;
      const s = at(Math.min(x, final));
      if (!s) return 0;
      const now = evolve(s.seg.p0, s.seg.dirty, workingSet, pageRate, s.dt);
      return s.seg.dirty * Math.max(0, 1 - now / workingSet);
    },
  };
}

/** Rounds = passes over the dirty bitmap begun before the switchover. */
function countRounds(ram: RamPhase, pageRate: number): number {
  if (ram.switchover <= ram.roundOneEnd) return 1;
  let rounds = 1;
  let start = ram.roundOneEnd;
  while (start < ram.switchover && rounds < 100_000) {
    rounds++;
    start += Math.max(ram.pending(start) / pageRate, MIN_ROUND_S);
  }
  return rounds;
}

interface Polls {
  detectMs: number;
  progress: ProgressPoint[];
}

/** PVE's poll loop over `query-migrate` (phase2 of QemuMigrate.pm), in integer ms since RAM start. */
function poll(
  ram: RamPhase,
  bandwidth: number,
  total: number,
  completeMs: number,
  downtimeDataMs: number,
  seed: number,
): Polls {
  const switchoverMs = ram.switchover * 1000;
  const pageRate = bandwidth / DATA_PAGE_WIRE;
  const scanRate = total / ram.roundOneEnd;
  const finalWire = ram.switchover * bandwidth + ram.wireAtSwitchover;
  const transferredAt = (ms: number) => Math.min((ms / 1000) * bandwidth, finalWire);
  const remainingAt = (ms: number) => {
    if (ms < switchoverMs) return ram.pending(ms / 1000);
    const left = ram.wireAtSwitchover - ((ms - switchoverMs) / 1000) * bandwidth;
    return ms < switchoverMs + downtimeDataMs ? Math.max(0, left) / DATA_PAGE_WIRE : 0;
  };
  const progress: ProgressPoint[] = [];
  let t = 0;
  let sleep = POLL_MS;
  let lastTransferred = 0;
  for (let i = 1; i < 10_000_000; i++) {
    const average = lastTransferred ? lastTransferred / i : 0;
    t += sleep;
    if (t >= completeMs) return { detectMs: t, progress };
    const transferred = transferredAt(t);
    const remaining = remainingAt(t);
    if (average && remaining < average) sleep = FAST_POLL_MS;
    const shouldLog = sleep > FAST_POLL_MS || i % 10 === 0;
    if (transferred !== lastTransferred && shouldLog) {
      // QEMU's pages-per-second counts zero pages as whole pages; real logs wobble around it.
      const rate = t / 1000 < ram.roundOneEnd ? scanRate : pageRate;
      const wobble = 0.9 + 0.2 * seeded(seed, 1000 + i);
      progress.push({
        atMs: t,
        transferredBytes: Math.round(transferred),
        totalBytes: total,
        speedBytesPerSecond: Math.round(rate * wobble),
        remainingBytes: Math.round(remaining),
        dirtyRateBytesPerSecond: Math.round(ram.dirtyRate(Math.min(t, switchoverMs) / 1000)),
      });
    }
    lastTransferred = transferred;
  }
  return { detectMs: t, progress };
}

function mirrorDisk(
  diskBytes: number,
  bandwidth: number,
  writeRate: number,
): { readyS: number; sent: number; progress: DiskMirrorOutcome["progress"] } {
  // The guest keeps writing: the mirror gains on the disk only by what the link carries beyond the writes.
  const gain = Math.max(bandwidth - writeRate, 0.05 * bandwidth);
  const readyS = diskBytes / gain;
  const pollsToReady = Math.ceil(readyS - 1e-9);
  const progress: DiskMirrorOutcome["progress"] = [];
  for (let s = 0; s <= pollsToReady && s < 1_000_000; s++) {
    const ready = s >= readyS;
    progress.push({ atMs: s * 1000, transferredBytes: Math.round(Math.min(diskBytes, gain * s)), ready });
  }
  return { readyS, sent: readyS * bandwidth, progress };
}

export function simulateMigration(input: MigrationInput): MigrationOutcome {
  validate(input);
  const seed = input.seed ?? 0;
  const w = input.workload;
  const bandwidth = input.bandwidthBytesPerSecond;
  const diskBytes = input.localDiskBytes ?? 0;
  const hasDisks = diskBytes > 0;
  const diskWrite = hasDisks ? (w.diskWriteBytesPerSecond ?? 0) : 0;
  // An actively synced mirror forwards each guest write: that share of the link is not available to RAM.
  const ramBandwidth = hasDisks ? Math.max(bandwidth - diskWrite, 0.05 * bandwidth) : bandwidth;
  const total = input.memoryBytes + DEVICE_RAM_BYTES;
  const limitMs = input.downtimeLimitMs ?? PVE_DEFAULT_DOWNTIME_LIMIT_MS;
  const fixedMs = TIMING.switchoverFixed[0] + (DEVICE_STATE_BYTES / ramBandwidth) * 1000;
  const marginMs = TIMING.switchoverMargin[0] + TIMING.switchoverMargin[1] * seeded(seed, 1);

  const ram = simulateRam({
    total,
    touchedFraction: w.touchedFraction,
    dirty: w.dirtyRateBytesPerSecond,
    workingSet: Math.min(w.workingSetBytes, total),
    bandwidth: ramBandwidth,
    limitMs,
    maxLimitMs: Math.max(input.maxDowntimeLimitMs ?? QEMU_MAX_DOWNTIME_LIMIT_MS, limitMs),
    maxSeconds: (input.maxRamPhaseMs ?? 24 * 3600 * 1000) / 1000,
    fixedMs,
    marginMs,
  });

  const downtimeDataMs = (ram.wireAtSwitchover / ramBandwidth) * 1000;
  const downtimeExact = downtimeDataMs + fixedMs;
  const downtimeMs = Math.floor(downtimeExact);
  const switchoverMs = ram.switchover * 1000;
  const completeMs = switchoverMs + downtimeExact;
  const polls = poll(ram, ramBandwidth, total, completeMs, downtimeDataMs, seed);

  // Fixed costs before the RAM phase.
  const prepareDoneMs = cost("prepare", seed, 10);
  const targetStartBeginMs = prepareDoneMs + 2;
  const targetStartedMs =
    targetStartBeginMs + cost("targetStart", seed, 11) + (hasDisks ? cost("targetDiskSetup", seed, 12) : 0);
  const tunnelReadyMs = targetStartedMs + cost("tunnel", seed, 13);
  let ramStartMs = tunnelReadyMs;
  let diskMirror: DiskMirrorOutcome | undefined;
  let diskMirrorStartMs: number | undefined;
  let diskMirrorReadyMs: number | undefined;
  if (hasDisks) {
    const mirror = mirrorDisk(diskBytes, bandwidth, diskWrite);
    diskMirrorStartMs = tunnelReadyMs + cost("mirrorStart", seed, 14);
    diskMirrorReadyMs = diskMirrorStartMs + (mirror.progress.at(-1)?.atMs ?? 0);
    ramStartMs = diskMirrorReadyMs + cost("mirrorActive", seed, 15);
    diskMirror = {
      totalBytes: diskBytes,
      transferredBytes: Math.round(mirror.sent),
      progress: mirror.progress,
    };
  }
  ramStartMs += cost("params", seed, 16);

  const completionLoggedMs = ramStartMs + polls.detectMs;
  const resumedMs = Math.round(
    completionLoggedMs +
      (hasDisks ? cost("blockJobFinish", seed, 17) + cost("nbdStop", seed, 18) : 0) +
      cost("resume", seed, 19),
  );
  const endMs = resumedMs + cost("cleanup", seed, 20);
  const switchoverAbsMs = Math.round(ramStartMs + switchoverMs);
  const clientOutageMs = Math.max(downtimeMs, resumedMs - switchoverAbsMs);
  const transferredBytes = Math.round(ram.switchover * ramBandwidth + ram.wireAtSwitchover);

  const outcome: MigrationOutcome = {
    rounds: countRounds(ram, ramBandwidth / DATA_PAGE_WIRE),
    converged: ram.converged && downtimeMs <= ram.limitMs,
    finalDowntimeLimitMs: ram.limitMs,
    totalTimeMs: endMs,
    ramPhaseMs: polls.detectMs,
    downtimeMs,
    clientOutageMs,
    transferredBytes,
    averageSpeedBytesPerSecond: Math.round(total / (polls.detectMs / 1000)),
    progress: polls.progress,
    vmStateTotalBytes: total,
    initialDowntimeLimitMs: limitMs,
    downtimeIncreases: ram.increases,
    throttlePercent: Math.round(ram.throttle * 100),
    timeline: {
      prepareDoneMs,
      targetStartBeginMs,
      targetStartedMs,
      tunnelReadyMs,
      ramStartMs,
      switchoverMs: switchoverAbsMs,
      qemuCompletedMs: Math.round(ramStartMs + completeMs),
      completionLoggedMs,
      resumedMs,
      endMs,
    },
  };
  if (diskMirror) outcome.diskMirror = diskMirror;
  if (diskMirrorStartMs !== undefined) outcome.timeline.diskMirrorStartMs = diskMirrorStartMs;
  if (diskMirrorReadyMs !== undefined) outcome.timeline.diskMirrorReadyMs = diskMirrorReadyMs;
  return outcome;
}
