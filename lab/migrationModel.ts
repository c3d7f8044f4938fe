/**
 * Pre-copy live migration model (pure). CONTRACT — implementation pending; the lab server uses
 * `simulateMigration` and `WORKLOADS` exactly as typed here.
 */

export interface Workload {
  name: "idle" | "video" | "game";
  /** Bytes per second the guest dirties while it runs. */
  dirtyRateBytesPerSecond: number;
  /** Hot set re-dirtied over and over; bounds what one round can leave dirty. */
  workingSetBytes: number;
  /** Fraction of memory ever touched (zero pages are cheap to send). */
  touchedFraction: number;
}

export interface MigrationInput {
  memoryBytes: number;
  workload: Workload;
  bandwidthBytesPerSecond: number;
  /** PVE default 100 ms; doubled when a round does not converge. */
  downtimeLimitMs?: number;
  /** Local disks mirrored before the RAM phase (with-local-disks). */
  localDiskBytes?: number;
}

export interface ProgressPoint {
  /** ms since the RAM phase started. */
  atMs: number;
  transferredBytes: number;
  totalBytes: number;
  speedBytesPerSecond: number;
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
}

export declare function simulateMigration(input: MigrationInput): MigrationOutcome;
export declare const WORKLOADS: Record<Workload["name"], Workload>;
