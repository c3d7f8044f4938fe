/**
 * QoS metrics over probe samples. Pure: samples in, figures out.
 *
 * Definitions (all times in ms on the recording's monotonic clock):
 * - A probe is *sent* when it has a sample; it is *received* when rttMs is not null. A reply that
 *   arrives late (after later probes' replies) still counts as received: only a probe whose deadline
 *   passed without a reply is lost.
 * - A reply *arrives* at sentAtMs + rttMs.
 * - Delay: mean, p50, p95 (nearest rank), min and max of the RTTs.
 * - Jitter: in send order over the received probes, D = RTT(i) - RTT(i-1); `rfc3550Ms` is RFC 3550's
 *   estimator J += (|D| - J) / 16 (its value at the end of the window), `meanAbsDeltaMs` is mean |D|.
 *   Send order rather than arrival order: both are the same without reordering, and with reordering
 *   the send order does not count one late reply twice.
 * - Client-observed downtime: the longest time the client went without an answer, expressed as
 *   "how long the service was gone", i.e. the longest gap between consecutive reply *arrivals*
 *   (arrival order) minus one probe interval. Why minus one interval: if the service is gone from t0
 *   to t1, the last answered probe left at most one interval before t0 and the first answered one at
 *   most one interval after t1, so the raw arrival gap overestimates the outage by between 0 and two
 *   intervals (one on average). Subtracting one interval centres the estimate: it is within one
 *   probe interval of the truth either way, and with a steady RTT it equals "lost probes × interval",
 *   the figure ping-based studies report. With no loss it is ≈ 0 (plus jitter), not one interval.
 *   The raw gap is reported too (`longestReplyGapMs`). Arrivals after the end of the stream (last send
 *   + interval + median RTT) count at that time. At the edges of a window, probes lost before
 *   the first answered one (or after the last) count as outage on the send grid:
 *   (first answered probe's send time − first probe's send time), likewise at the end.
 */
import type { MigrationWindows, ProbeSample } from "./samples.ts";

export type WindowName = "all" | "baseline" | "migration" | "after";

export interface RttStats {
  avgMs: number;
  p50Ms: number;
  p95Ms: number;
  minMs: number;
  maxMs: number;
}

export interface JitterStats {
  rfc3550Ms: number;
  meanAbsDeltaMs: number;
}

export interface StreamThroughput {
  /** What the probe stream sent, bits per second of stream time. */
  offeredBps: number;
  /** What came back. */
  receivedBps: number;
  /** receivedBps as a percentage of offeredBps (100 when nothing was sent). */
  deliveredPct: number;
}

export interface Outage {
  /** Start of the outage: the last answer before it arrived (or the window's first send). */
  fromMs: number;
  /** End: the first answer after it arrived (or the window's last send). */
  toMs: number;
  /** The outage as reported (see the definition above). */
  durationMs: number;
}

export interface WindowMetrics {
  name: WindowName;
  /** Send-time range of the window as requested (null = open ended). */
  fromMs: number | null;
  toMs: number | null;
  /** Stream time covered: last send − first send + one interval (0 when empty). */
  durationMs: number;
  sent: number;
  received: number;
  lost: number;
  lossPct: number;
  rtt: RttStats | null;
  jitter: JitterStats | null;
  throughput: StreamThroughput;
  observedDowntimeMs: number;
  longestReplyGapMs: number;
  longestOutage: Outage | null;
}

export interface MetricsOptions {
  intervalMs: number;
  probeBytes: number;
}

/** Nearest-rank percentile of an ascending array (p in (0, 100]). */
export function percentile(sortedAsc: readonly number[], p: number): number {
  if (sortedAsc.length === 0) throw new RangeError("percentile of an empty set");
  const rank = Math.max(1, Math.ceil((p / 100) * sortedAsc.length));
  return sortedAsc[Math.min(rank, sortedAsc.length) - 1] as number;
}

function bySend(samples: readonly ProbeSample[]): ProbeSample[] {
  return [...samples].sort((a, b) => a.sentAtMs - b.sentAtMs || a.seq - b.seq);
}

export function rttStats(samples: readonly ProbeSample[]): RttStats | null {
  const rtts = samples.flatMap((s) => (s.rttMs === null ? [] : [s.rttMs])).sort((a, b) => a - b);
  if (rtts.length === 0) return null;
  const sum = rtts.reduce((a, b) => a + b, 0);
  return {
    avgMs: sum / rtts.length,
    p50Ms: percentile(rtts, 50),
    p95Ms: percentile(rtts, 95),
    minMs: rtts[0] as number,
    maxMs: rtts[rtts.length - 1] as number,
  };
}

/** Null when fewer than two replies (no difference to take). */
export function jitterStats(samples: readonly ProbeSample[]): JitterStats | null {
  const rtts = bySend(samples).flatMap((s) => (s.rttMs === null ? [] : [s.rttMs]));
  if (rtts.length < 2) return null;
  let j = 0;
  let sumAbs = 0;
  for (let i = 1; i < rtts.length; i++) {
    const d = Math.abs((rtts[i] as number) - (rtts[i - 1] as number));
    j += (d - j) / 16;
    sumAbs += d;
  }
  return { rfc3550Ms: j, meanAbsDeltaMs: sumAbs / (rtts.length - 1) };
}

/** Longest outage of a window; see the module comment for the definition. */
export function longestOutage(
  samples: readonly ProbeSample[],
  intervalMs: number,
): { outage: Outage | null; longestReplyGapMs: number } {
  if (samples.length === 0) return { outage: null, longestReplyGapMs: 0 };
  const sent = bySend(samples);
  const firstSent = (sent[0] as ProbeSample).sentAtMs;
  const lastSent = (sent[sent.length - 1] as ProbeSample).sentAtMs;
  const replies = sent.filter((s) => s.rttMs !== null);
  if (replies.length === 0) {
    const durationMs = lastSent - firstSent + intervalMs;
    return { outage: { fromMs: firstSent, toMs: lastSent + intervalMs, durationMs }, longestReplyGapMs: 0 };
  }
  let best: Outage | null = null;
  const consider = (fromMs: number, toMs: number, durationMs: number) => {
    if (durationMs > 0 && (best === null || durationMs > best.durationMs))
      best = { fromMs, toMs, durationMs };
  };
  const firstAnswered = (replies[0] as ProbeSample).sentAtMs;
  const lastAnswered = (replies[replies.length - 1] as ProbeSample).sentAtMs;
  consider(firstSent, firstAnswered, firstAnswered - firstSent);
  // After the stream stops nobody waits for answers: a reply arriving later than the next probe's
  // reply would have (last send + interval + median RTT) counts as arriving then, so the quiet time
  // after the end of the stream is not taken for an outage.
  const rtts = replies.map((s) => s.rttMs as number).sort((a, b) => a - b);
  const streamEnd = lastSent + intervalMs + percentile(rtts, 50);
  const arrivals = replies
    .map((s) => Math.min(s.sentAtMs + (s.rttMs as number), streamEnd))
    .sort((a, b) => a - b);
  let longestReplyGapMs = 0;
  for (let i = 1; i < arrivals.length; i++) {
    const from = arrivals[i - 1] as number;
    const to = arrivals[i] as number;
    const gap = to - from;
    if (gap > longestReplyGapMs) longestReplyGapMs = gap;
    consider(from, to, gap - intervalMs);
  }
  consider(lastAnswered, lastSent, lastSent - lastAnswered);
  return { outage: best, longestReplyGapMs };
}

export function windowMetrics(
  samples: readonly ProbeSample[],
  options: MetricsOptions & { name: WindowName; fromMs?: number | null; toMs?: number | null },
): WindowMetrics {
  const { intervalMs, probeBytes } = options;
  const sent = samples.length;
  const received = samples.reduce((n, s) => n + (s.rttMs === null ? 0 : 1), 0);
  const lost = sent - received;
  let durationMs = 0;
  if (sent > 0) {
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const s of samples) {
      lo = Math.min(lo, s.sentAtMs);
      hi = Math.max(hi, s.sentAtMs);
    }
    durationMs = hi - lo + intervalMs;
  }
  const bps = (count: number) => (durationMs > 0 ? (count * probeBytes * 8 * 1000) / durationMs : 0);
  const { outage, longestReplyGapMs } = longestOutage(samples, intervalMs);
  return {
    name: options.name,
    fromMs: options.fromMs ?? null,
    toMs: options.toMs ?? null,
    durationMs,
    sent,
    received,
    lost,
    lossPct: sent === 0 ? 0 : (lost / sent) * 100,
    rtt: rttStats(samples),
    jitter: jitterStats(samples),
    throughput: {
      offeredBps: bps(sent),
      receivedBps: bps(received),
      deliveredPct: sent === 0 ? 100 : (received / sent) * 100,
    },
    observedDowntimeMs: outage?.durationMs ?? 0,
    longestReplyGapMs,
    longestOutage: outage,
  };
}

export interface WindowSlice {
  name: WindowName;
  fromMs: number | null;
  toMs: number | null;
  samples: ProbeSample[];
}

/** baseline = sent before migrationStartMs, migration = [start, end), after = from end on; all when no windows. */
export function splitWindows(samples: readonly ProbeSample[], windows?: MigrationWindows): WindowSlice[] {
  if (!windows) return [{ name: "all", fromMs: null, toMs: null, samples: [...samples] }];
  const { migrationStartMs: start, migrationEndMs: end } = windows;
  return [
    { name: "baseline", fromMs: null, toMs: start, samples: samples.filter((s) => s.sentAtMs < start) },
    {
      name: "migration",
      fromMs: start,
      toMs: end,
      samples: samples.filter((s) => s.sentAtMs >= start && s.sentAtMs < end),
    },
    { name: "after", fromMs: end, toMs: null, samples: samples.filter((s) => s.sentAtMs >= end) },
  ];
}

export interface StreamMetrics {
  windows: Partial<Record<WindowName, WindowMetrics>>;
  /** Over the whole recording, so an outage that straddles a window edge is seen whole. */
  observedDowntimeMs: number;
  longestReplyGapMs: number;
  longestOutage: Outage | null;
}

export function streamMetrics(
  samples: readonly ProbeSample[],
  options: MetricsOptions & { windows?: MigrationWindows },
): StreamMetrics {
  const windows: Partial<Record<WindowName, WindowMetrics>> = {};
  for (const slice of splitWindows(samples, options.windows)) {
    windows[slice.name] = windowMetrics(slice.samples, { ...options, ...slice });
  }
  const whole = longestOutage(samples, options.intervalMs);
  return {
    windows,
    observedDowntimeMs: whole.outage?.durationMs ?? 0,
    longestReplyGapMs: whole.longestReplyGapMs,
    longestOutage: whole.outage,
  };
}

/** The migration's own throughput from its task log figures, bits per second. */
export function migrationThroughputBps(transferredBytes: number, durationMs: number): number | null {
  if (durationMs <= 0) return null;
  return (transferredBytes * 8 * 1000) / durationMs;
}
