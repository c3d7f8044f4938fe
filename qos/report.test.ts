import { describe, expect, it } from "vitest";
import { qosReport } from "./report.ts";
import type { SamplesFile } from "./samples.ts";

const file: SamplesFile = {
  intervalMs: 10,
  // Baseline 0-40 steady 2 ms; migration 50-140 with 3 lost probes and RTT 4; after steady.
  samples: [2, 2, 2, 2, 2, 4, 4, null, null, null, 4, 4, 4, 4, 2, 2].map((rttMs, seq) => ({
    seq,
    sentAtMs: seq * 10,
    rttMs,
  })),
  windows: { migrationStartMs: 50, migrationEndMs: 140 },
  migration: { durationMs: 12_000, transferredBytes: 3 * 2 ** 30, memoryBytes: 2 * 2 ** 30 },
};

describe("qosReport", () => {
  it("grades QoS on the migration window and the migration figures from the task log", () => {
    const r = qosReport(file, { referenceBandwidthBps: 1e9 });
    expect(Object.keys(r.windows)).toEqual(["baseline", "migration", "after"]);
    expect(r.windows.migration).toMatchObject({ sent: 9, received: 6, lost: 3 });
    expect(r.observedDowntimeMs).toBe(30);
    expect(r.grades.delay).toMatchObject({ value: 4, grade: "veryGood", label: "very good" });
    expect(r.grades.jitter).toMatchObject({ value: 0, grade: "veryGood" });
    expect(r.grades.loss).toMatchObject({ value: (3 / 9) * 100, grade: "bad" });
    expect(r.grades.downtime).toMatchObject({ value: 30, grade: "veryGood" });
    expect(r.grades.migrationTime).toMatchObject({ value: 12_000, grade: "good" });
    expect(r.grades.data).toMatchObject({ value: 1.5, grade: "good" });
    // 3 GiB in 12 s = 2.147 Gbit/s against a 1 Gbit/s reference: over 100 %.
    expect(r.grades.throughput?.basis).toContain("migration throughput");
    expect(r.grades.throughput?.grade).toBe("veryGood");
    expect(r.notGraded).toEqual({});
  });

  it("without migration facts: throughput of the probe stream, duration from the windows, Indonesian words", () => {
    const { migration: _, ...bare } = file;
    const r = qosReport(bare, { labels: "id" });
    expect(r.grades.throughput).toMatchObject({ value: (6 / 9) * 100, grade: "good", label: "bagus" });
    expect(r.grades.throughput?.basis).toContain("probe stream");
    expect(r.grades.migrationTime).toMatchObject({ value: 90, label: "sangat bagus" });
    expect(r.notGraded.data).toContain("unknown");
  });

  it("no windows: one 'all' window; a silent stream has nothing to grade delay on", () => {
    const r = qosReport({ intervalMs: 10, samples: [{ seq: 0, sentAtMs: 0, rttMs: null }] });
    expect(Object.keys(r.windows)).toEqual(["all"]);
    expect(r.grades.delay).toBeUndefined();
    expect(r.notGraded.delay).toBe("no reply whole recording");
    expect(r.grades.loss?.grade).toBe("bad");
    expect(r.probeBytes).toBe(60);
  });

  it("counts slots the prober skipped (gaps in seq)", () => {
    const r = qosReport({
      intervalMs: 10,
      samples: [0, 1, 4, 5].map((seq) => ({ seq, sentAtMs: seq * 10, rttMs: 1 })),
    });
    expect(r.missingSlots).toBe(2);
  });
});
