/**
 * Reads iputils `ping -D -O -n` output into probe samples. Pure.
 * ping does its own scheduling and stamps every line with the wall clock (-D), so the samples do not
 * depend on how quickly we read its output. -O makes it say "no answer yet" for a probe still
 * unanswered when the next one leaves; that is not final (a late reply may still come), it only tells
 * us when the next probe left.
 */
import type { ProbeSample } from "./samples.ts";

export type PingLine =
  | { kind: "header" }
  | { kind: "reply"; epochMs: number; icmpSeq: number; rttMs: number; duplicate: boolean }
  | { kind: "no-answer"; epochMs: number; icmpSeq: number }
  | { kind: "icmp-error"; epochMs: number; icmpSeq: number; text: string }
  | { kind: "transmitted"; count: number }
  | { kind: "other" };

const STAMP = String.raw`^\[(\d+(?:\.\d+)?)\]\s+`;
const REPLY = new RegExp(`${STAMP}\\d+ bytes from .*?icmp_seq=(\\d+).*?time=([\\d.]+) ms(.*)$`);
const NO_ANSWER = new RegExp(`${STAMP}no answer yet for icmp_seq=(\\d+)`);
const ICMP_ERROR = new RegExp(`${STAMP}From \\S+ icmp_seq=(\\d+) (.*)$`);

export function parsePingLine(line: string): PingLine {
  if (line.startsWith("PING ")) return { kind: "header" };
  let m = REPLY.exec(line);
  if (m) {
    return {
      kind: "reply",
      epochMs: Number(m[1]) * 1000,
      icmpSeq: Number(m[2]),
      rttMs: Number(m[3]),
      duplicate: (m[4] ?? "").includes("DUP!"),
    };
  }
  m = NO_ANSWER.exec(line);
  if (m) return { kind: "no-answer", epochMs: Number(m[1]) * 1000, icmpSeq: Number(m[2]) };
  m = ICMP_ERROR.exec(line);
  if (m) return { kind: "icmp-error", epochMs: Number(m[1]) * 1000, icmpSeq: Number(m[2]), text: m[3] ?? "" };
  m = /^(\d+) packets transmitted/.exec(line);
  if (m) return { kind: "transmitted", count: Number(m[1]) };
  return { kind: "other" };
}

/** icmp_seq is 16 bits and wraps (after ~11 min at 100/s): map it to the nearest full count. */
export function unwrapSeq(seq16: number, nearFull: number): number {
  const base = nearFull - (nearFull & 0xffff);
  let best = base + seq16;
  for (const c of [best - 0x10000, best + 0x10000]) {
    if (Math.abs(c - nearFull) < Math.abs(best - nearFull)) best = c;
  }
  return best;
}

/**
 * Accumulates ping lines. Sample seq = icmp_seq − 1 (ping counts from 1), unwrapped.
 * Times: ms relative to originEpochMs (the wall-clock time of the recording's origin).
 */
export class PingAccumulator {
  private readonly rtts = new Map<number, number>();
  /** seq → known send time (exact from a reply, or from "no answer yet for seq−1"). */
  private readonly sentAt = new Map<number, number>();
  private lastSeq = 0;
  private maxSeq = -1;
  transmitted: number | undefined;
  sawHeader = false;
  icmpErrors = 0;
  lastIcmpError: string | undefined;

  constructor(
    private readonly originEpochMs: number,
    private readonly timeoutMs: number,
  ) {}

  private seqOf(icmpSeq: number): number {
    const full = unwrapSeq(icmpSeq, this.lastSeq + 1) - 1;
    this.lastSeq = full;
    this.maxSeq = Math.max(this.maxSeq, full);
    return full;
  }

  push(line: string): PingLine {
    const p = parsePingLine(line);
    switch (p.kind) {
      case "header":
        this.sawHeader = true;
        break;
      case "reply": {
        const seq = this.seqOf(p.icmpSeq);
        if (p.duplicate || this.rtts.has(seq)) break;
        const sent = p.epochMs - p.rttMs - this.originEpochMs;
        this.sentAt.set(seq, sent);
        // A reply after the probe's deadline is a loss, as for the TCP and UDP probes.
        if (p.rttMs <= this.timeoutMs) this.rtts.set(seq, p.rttMs);
        break;
      }
      case "no-answer": {
        const seq = this.seqOf(p.icmpSeq);
        // Printed just before seq+1 leaves.
        if (!this.sentAt.has(seq + 1)) this.sentAt.set(seq + 1, p.epochMs - this.originEpochMs);
        this.maxSeq = Math.max(this.maxSeq, seq + 1);
        break;
      }
      case "icmp-error":
        this.seqOf(p.icmpSeq);
        this.icmpErrors++;
        this.lastIcmpError = p.text;
        break;
      case "transmitted":
        this.transmitted = p.count;
        break;
    }
    return p;
  }

  /**
   * ping's real pace: iputils sends slower than asked (here -i 0.01 gives ~16 ms), so the metrics
   * must use the measured interval. Median of the known send-time steps between neighbouring seqs.
   */
  effectiveIntervalMs(fallbackMs: number): number {
    const anchors = [...this.sentAt.entries()].sort((a, b) => a[0] - b[0]);
    const steps: number[] = [];
    for (let i = 1; i < anchors.length; i++) {
      const [s0, t0] = anchors[i - 1] as [number, number];
      const [s1, t1] = anchors[i] as [number, number];
      if (s1 - s0 === 1) steps.push(t1 - t0);
    }
    if (steps.length === 0) return fallbackMs;
    steps.sort((a, b) => a - b);
    return steps[Math.floor(steps.length / 2)] as number;
  }

  /** Samples sent at or before untilMs (relative), in seq order. */
  samples(intervalMs: number, untilMs = Number.POSITIVE_INFINITY): ProbeSample[] {
    const last = this.transmitted !== undefined ? this.transmitted - 1 : this.maxSeq;
    const anchors = [...this.sentAt.entries()].sort((a, b) => a[0] - b[0]);
    if (anchors.length === 0 || last < 0) return [];
    const step = this.effectiveIntervalMs(intervalMs);
    const out: ProbeSample[] = [];
    let ai = 0;
    for (let seq = 0; seq <= last; seq++) {
      while (ai + 1 < anchors.length && (anchors[ai + 1] as [number, number])[0] <= seq) ai++;
      const [aSeq, aAt] = anchors[ai] as [number, number];
      const next = anchors[ai + 1];
      let sentAtMs = this.sentAt.get(seq);
      if (sentAtMs === undefined) {
        if (aSeq < seq && next) {
          // Between two known sends: interpolate (ping keeps an even pace between them).
          sentAtMs = aAt + ((seq - aSeq) * (next[1] - aAt)) / (next[0] - aSeq);
        } else sentAtMs = aAt + (seq - aSeq) * step;
      }
      if (sentAtMs > untilMs) break;
      out.push({ seq, sentAtMs, rttMs: this.rtts.get(seq) ?? null });
    }
    return out;
  }
}
