import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  jitterStats,
  longestOutage,
  percentile,
  rttStats,
  splitWindows,
  streamMetrics,
  windowMetrics,
} from "./metrics.ts";
import type { ProbeSample } from "./samples.ts";

const grid = (rtts: (number | null)[], intervalMs = 10, t0 = 0): ProbeSample[] =>
  rtts.map((rttMs, seq) => ({ seq, sentAtMs: t0 + seq * intervalMs, rttMs }));

describe("windowMetrics on a hand-made stream", () => {
  // sent 0,10,...,50; replies arrive at 1, 13, 42, 52; seq 2 and 3 lost.
  const samples = grid([1, 3, null, null, 2, 2]);
  const m = windowMetrics(samples, { name: "all", intervalMs: 10, probeBytes: 100 });

  it("counts sent, received, lost and loss %", () => {
    expect([m.sent, m.received, m.lost]).toEqual([6, 4, 2]);
    expect(m.lossPct).toBeCloseTo(100 / 3, 12);
  });

  it("delay: mean, nearest-rank p50/p95, min, max", () => {
    expect(m.rtt).toEqual({ avgMs: 2, p50Ms: 2, p95Ms: 3, minMs: 1, maxMs: 3 });
  });

  it("jitter: RFC 3550 estimator and mean |ΔRTT| in send order", () => {
    // D = 2, 1, 0: J = 2/16 = 0.125; J += (1 - J)/16 = 0.1796875; J += (0 - J)/16 = 0.1684570...
    expect(m.jitter?.meanAbsDeltaMs).toBe(1);
    expect(m.jitter?.rfc3550Ms).toBeCloseTo(0.1796875 * (15 / 16), 12);
  });

  it("downtime: longest arrival gap (13 → 42) minus one interval; raw gap reported too", () => {
    expect(m.longestReplyGapMs).toBe(29);
    expect(m.observedDowntimeMs).toBe(19);
    expect(m.longestOutage).toEqual({ fromMs: 13, toMs: 42, durationMs: 19 });
  });

  it("throughput of the probe stream over the stream's time (6 slots = 60 ms)", () => {
    expect(m.durationMs).toBe(60);
    expect(m.throughput.offeredBps).toBeCloseTo((6 * 100 * 8 * 1000) / 60, 9);
    expect(m.throughput.receivedBps).toBeCloseTo((4 * 100 * 8 * 1000) / 60, 9);
    expect(m.throughput.deliveredPct).toBeCloseTo(200 / 3, 12);
  });
});

describe("longestOutage", () => {
  it("a late reply is not a loss and splits the silence where it arrives", () => {
    // seq 1 answers at 45 (late, after seq 2-4's replies); arrivals 1, 21, 31, 41, 45.
    const samples = grid([1, 35, 1, 1, 1]);
    const m = windowMetrics(samples, { name: "all", intervalMs: 10, probeBytes: 1 });
    expect(m.lost).toBe(0);
    expect(m.longestReplyGapMs).toBe(20);
    expect(m.observedDowntimeMs).toBe(10);
  });

  it("losses before the first or after the last reply count on the send grid", () => {
    expect(longestOutage(grid([null, null, 1, 1]), 10).outage).toEqual({
      fromMs: 0,
      toMs: 20,
      durationMs: 20,
    });
    expect(longestOutage(grid([1, null, null, null]), 10).outage).toEqual({
      fromMs: 0,
      toMs: 30,
      durationMs: 30,
    });
  });

  it("no reply at all: the whole window (n × interval); no samples: nothing", () => {
    expect(longestOutage(grid([null, null, null], 10, 100), 10).outage).toEqual({
      fromMs: 100,
      toMs: 130,
      durationMs: 30,
    });
    expect(longestOutage([], 10)).toEqual({ outage: null, longestReplyGapMs: 0 });
  });

  it("steady replies: no outage", () => {
    expect(longestOutage(grid([2, 2, 2, 2]), 10).outage).toBeNull();
  });
});

describe("windows", () => {
  const samples = grid([1, 1, null, 1, 1, 1]);
  it("baseline before start, migration in [start, end), after from end", () => {
    const slices = splitWindows(samples, { migrationStartMs: 20, migrationEndMs: 40 });
    expect(slices.map((s) => [s.name, s.samples.map((x) => x.seq)])).toEqual([
      ["baseline", [0, 1]],
      ["migration", [2, 3]],
      ["after", [4, 5]],
    ]);
  });

  it("all when no windows; the stream's downtime is computed over the whole recording", () => {
    const m = streamMetrics(samples, { intervalMs: 10, probeBytes: 1 });
    expect(Object.keys(m.windows)).toEqual(["all"]);
    expect(m.observedDowntimeMs).toBe(10);
    // The outage straddles the window edge at 20: still seen whole at the top level.
    const w = streamMetrics(samples, {
      intervalMs: 10,
      probeBytes: 1,
      windows: { migrationStartMs: 25, migrationEndMs: 60 },
    });
    expect(Object.keys(w.windows)).toEqual(["baseline", "migration", "after"]);
    expect(w.observedDowntimeMs).toBe(10);
    expect(w.windows.after?.sent).toBe(0);
  });
});

describe("small helpers", () => {
  it("percentile is nearest rank", () => {
    const xs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(xs, 50)).toBe(5);
    expect(percentile(xs, 95)).toBe(10);
    expect(percentile(xs, 10)).toBe(1);
    expect(() => percentile([], 50)).toThrow(RangeError);
  });
  it("rtt and jitter are null without enough replies", () => {
    expect(rttStats(grid([null]))).toBeNull();
    expect(jitterStats(grid([1, null]))).toBeNull();
  });
});

const rttArb = fc.option(fc.integer({ min: 0, max: 50 }), { nil: null, freq: 4 });
const streamArb = fc.array(rttArb, { minLength: 0, maxLength: 120 });

function longestLossRun(rtts: readonly (number | null)[]): number {
  let best = 0;
  let run = 0;
  for (const r of rtts) {
    run = r === null ? run + 1 : 0;
    best = Math.max(best, run);
  }
  return best;
}

describe("properties", () => {
  it("loss % is within [0, 100] and downtime is never negative", () => {
    fc.assert(
      fc.property(streamArb, (rtts) => {
        const m = windowMetrics(grid(rtts), { name: "all", intervalMs: 10, probeBytes: 64 });
        expect(m.lossPct).toBeGreaterThanOrEqual(0);
        expect(m.lossPct).toBeLessThanOrEqual(100);
        expect(m.observedDowntimeMs).toBeGreaterThanOrEqual(0);
      }),
    );
  });

  it("with a steady RTT, downtime is exactly the longest run of lost probes × interval", () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { maxLength: 120 }),
        fc.integer({ min: 0, max: 40 }),
        (lostFlags, rtt) => {
          const rtts = lostFlags.map((lost) => (lost ? null : rtt));
          const m = windowMetrics(grid(rtts), { name: "all", intervalMs: 10, probeBytes: 64 });
          expect(m.observedDowntimeMs).toBe(longestLossRun(rtts) * 10);
        },
      ),
    );
  });

  it("downtime ≥ longest loss run × interval − RTT spread, whatever the RTTs", () => {
    fc.assert(
      fc.property(streamArb, (rtts) => {
        const got = rtts.filter((r): r is number => r !== null);
        const spread = got.length > 0 ? Math.max(...got) - Math.min(...got) : 0;
        const m = windowMetrics(grid(rtts), { name: "all", intervalMs: 10, probeBytes: 64 });
        expect(m.observedDowntimeMs).toBeGreaterThanOrEqual(longestLossRun(rtts) * 10 - spread);
      }),
    );
  });

  it("jitter is 0 for a constant RTT", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 100 }),
        fc.double({ min: 0, max: 500, noNaN: true }),
        (n, rtt) => {
          const j = jitterStats(grid(Array.from({ length: n }, () => rtt)));
          expect(j).toEqual({ rfc3550Ms: 0, meanAbsDeltaMs: 0 });
        },
      ),
    );
  });

  it("a late reply instead of a loss never increases loss (nor the downtime, with a steady RTT)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { minLength: 1, maxLength: 80 }),
        fc.nat(),
        fc.integer({ min: 0, max: 2000 }),
        (lostFlags, pick, lateRtt) => {
          const rtts: (number | null)[] = lostFlags.map((lost) => (lost ? null : 5));
          const lostIdx = rtts.flatMap((r, i) => (r === null ? [i] : []));
          if (lostIdx.length === 0) return;
          const i = lostIdx[pick % lostIdx.length] as number;
          const before = windowMetrics(grid(rtts), { name: "all", intervalMs: 10, probeBytes: 64 });
          const late = [...rtts];
          late[i] = lateRtt;
          const after = windowMetrics(grid(late), { name: "all", intervalMs: 10, probeBytes: 64 });
          expect(after.lossPct).toBeLessThanOrEqual(before.lossPct);
          expect(after.lost).toBe(before.lost - 1);
          expect(after.observedDowntimeMs).toBeLessThanOrEqual(before.observedDowntimeMs);
        },
      ),
    );
  });
});
