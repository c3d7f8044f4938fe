/**
 * The QoS report of one recording: metrics per window plus grades. Pure.
 * QoS grades (delay, jitter, loss, throughput) use the migration window when there is one, else all.
 */
import { DEFAULT_GRADING, type Grade, type GradedMetric, type GradingTables, grade } from "./grading.ts";
import { LABELS, type Language } from "./labels.ts";
import {
  migrationThroughputBps,
  type Outage,
  streamMetrics,
  type WindowMetrics,
  type WindowName,
} from "./metrics.ts";
import { DEFAULT_PROBE_BYTES, type SamplesFile } from "./samples.ts";

export interface GradeResult {
  value: number;
  unit: "ms" | "%" | "x";
  grade: Grade;
  label: string;
  /** Which figure was graded, in words. */
  basis: string;
}

export interface QosReport {
  intervalMs: number;
  probeBytes: number;
  windows: Partial<Record<WindowName, WindowMetrics>>;
  observedDowntimeMs: number;
  longestReplyGapMs: number;
  longestOutage: Outage | null;
  migrationThroughputBps: number | null;
  /**
   * Slot numbers missing between the first and last sample: times the prober itself was held up and
   * sent nothing. An outage overlapping them may be overstated by up to their length.
   */
  missingSlots: number;
  grades: Partial<Record<GradedMetric, GradeResult>>;
  /** Metrics that could not be graded, and why. */
  notGraded: Partial<Record<GradedMetric, string>>;
}

export interface ReportOptions {
  tables?: GradingTables;
  labels?: Language;
  /** Link bandwidth the migration's throughput is graded against, bits per second. */
  referenceBandwidthBps?: number;
}

export function qosReport(file: SamplesFile, options: ReportOptions = {}): QosReport {
  const tables = options.tables ?? DEFAULT_GRADING;
  const words = LABELS[options.labels ?? "en"];
  const probeBytes = file.probeBytes ?? DEFAULT_PROBE_BYTES[file.method ?? "tcp"];
  const stream = streamMetrics(file.samples, {
    intervalMs: file.intervalMs,
    probeBytes,
    windows: file.windows,
  });
  const focus = (file.windows ? stream.windows.migration : stream.windows.all) as WindowMetrics;
  const grades: Partial<Record<GradedMetric, GradeResult>> = {};
  const notGraded: Partial<Record<GradedMetric, string>> = {};
  const put = (metric: GradedMetric, value: number, unit: GradeResult["unit"], basis: string) => {
    const g = grade(value, tables[metric]);
    grades[metric] = { value, unit, grade: g, label: words.grades[g], basis };
  };
  const where = file.windows ? "during migration" : "whole recording";

  if (focus.rtt) put("delay", focus.rtt.avgMs, "ms", `mean RTT ${where}`);
  else notGraded.delay = `no reply ${where}`;
  if (focus.jitter) put("jitter", focus.jitter.meanAbsDeltaMs, "ms", `mean |ΔRTT| ${where}`);
  else notGraded.jitter = `fewer than two replies ${where}`;
  if (focus.sent > 0) put("loss", focus.lossPct, "%", `lost probes ${where}`);
  else notGraded.loss = `no probe sent ${where}`;

  const m = file.migration;
  const migrationMs =
    m?.durationMs ?? (file.windows ? file.windows.migrationEndMs - file.windows.migrationStartMs : undefined);
  const migBps =
    m?.transferredBytes !== undefined && migrationMs !== undefined
      ? migrationThroughputBps(m.transferredBytes, migrationMs)
      : null;
  if (migBps !== null && options.referenceBandwidthBps) {
    put(
      "throughput",
      (migBps / options.referenceBandwidthBps) * 100,
      "%",
      `migration throughput as % of ${options.referenceBandwidthBps} bit/s`,
    );
  } else if (focus.sent > 0) {
    put("throughput", focus.throughput.deliveredPct, "%", `probe stream delivered as % of offered ${where}`);
  } else notGraded.throughput = `no probe sent ${where}`;

  if (migrationMs !== undefined) put("migrationTime", migrationMs, "ms", "migration duration");
  else notGraded.migrationTime = "migration duration unknown (no windows, no migration.durationMs)";
  if (file.samples.length > 0)
    put("downtime", stream.observedDowntimeMs, "ms", "longest client-observed outage");
  else notGraded.downtime = "no samples";
  if (m?.transferredBytes !== undefined && m.memoryBytes !== undefined) {
    put("data", m.transferredBytes / m.memoryBytes, "x", "bytes transferred / VM memory");
  } else notGraded.data = "transferred bytes or VM memory unknown";

  return {
    intervalMs: file.intervalMs,
    probeBytes,
    windows: stream.windows,
    observedDowntimeMs: stream.observedDowntimeMs,
    longestReplyGapMs: stream.longestReplyGapMs,
    longestOutage: stream.longestOutage,
    migrationThroughputBps: migBps,
    missingSlots: missingSlots(file),
    grades,
    notGraded,
  };
}

function missingSlots(file: SamplesFile): number {
  if (file.samples.length === 0) return 0;
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const s of file.samples) {
    lo = Math.min(lo, s.seq);
    hi = Math.max(hi, s.seq);
  }
  return hi - lo + 1 - file.samples.length;
}
