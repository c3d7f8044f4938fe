import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  LINK_1GBIT_BYTES_PER_SECOND,
  LINK_10GBIT_BYTES_PER_SECOND,
  type MigrationInput,
  type MigrationOutcome,
  simulateMigration,
  WORKLOADS,
  type Workload,
} from "./migrationModel.ts";

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

const on = (
  workload: Workload,
  bandwidth = LINK_1GBIT_BYTES_PER_SECOND,
  extra: Partial<MigrationInput> = {},
) => simulateMigration({ memoryBytes: 4 * GiB, workload, bandwidthBytesPerSecond: bandwidth, ...extra });

/** Floating-point slack for comparisons between two runs (ms or bytes). */
const EPS = 1e-6;

function timelineInOrder(o: MigrationOutcome): void {
  const t = o.timeline;
  const order = [
    t.prepareDoneMs,
    t.targetStartBeginMs,
    t.targetStartedMs,
    t.tunnelReadyMs,
    ...(t.diskMirrorStartMs !== undefined ? [t.diskMirrorStartMs] : []),
    ...(t.diskMirrorReadyMs !== undefined ? [t.diskMirrorReadyMs] : []),
    t.ramStartMs,
    t.switchoverMs,
    t.qemuCompletedMs,
    t.completionLoggedMs,
    t.resumedMs,
    t.endMs,
  ];
  for (let i = 1; i < order.length; i++) expect(order[i]).toBeGreaterThanOrEqual(order[i - 1] as number);
  expect(t.endMs).toBe(o.totalTimeMs);
  expect(t.completionLoggedMs - t.ramStartMs).toBe(o.ramPhaseMs);
}

describe("calibration on 1 Gbit/s, 4 GiB", () => {
  it("idle converges after the first round, well under the 100 ms limit", () => {
    const o = on(WORKLOADS.idle);
    expect(o).toMatchObject({ rounds: 1, converged: true, finalDowntimeLimitMs: 100, downtimeIncreases: [] });
    expect(o.downtimeMs).toBeLessThan(70);
    expect(o.downtimeMs).toBeGreaterThan(0);
    expect(o.throttlePercent).toBe(0);
    // Only the touched third of the memory really crosses the wire.
    expect(o.transferredBytes).toBeLessThan(0.4 * 4 * GiB);
  });

  it("video converges in a few rounds within the default limit", () => {
    const o = on(WORKLOADS.video);
    expect(o.converged).toBe(true);
    expect(o.rounds).toBeGreaterThanOrEqual(2);
    expect(o.rounds).toBeLessThanOrEqual(4);
    expect(o.downtimeIncreases).toEqual([]);
    expect(o.downtimeMs).toBeGreaterThan(60);
    expect(o.downtimeMs).toBeLessThanOrEqual(100);
  });

  it("game needs many rounds, auto-increased downtime and throttling", () => {
    const o = on(WORKLOADS.game);
    expect(o.converged).toBe(true);
    expect(o.rounds).toBeGreaterThanOrEqual(5);
    expect(o.downtimeIncreases.map((i) => i.limitMs)).toEqual([200, 400]);
    expect(o.finalDowntimeLimitMs).toBe(400);
    expect(o.downtimeMs).toBeGreaterThan(200);
    expect(o.downtimeMs).toBeLessThanOrEqual(400);
    expect(o.throttlePercent).toBeGreaterThan(0);
    // QEMU measures a dirty rate once round 1 is over.
    const roundOneSeconds = (0.8 * 4 * GiB) / LINK_1GBIT_BYTES_PER_SECOND;
    for (const p of o.progress) {
      if (p.atMs < roundOneSeconds * 1000) expect(p.dirtyRateBytesPerSecond).toBe(0);
    }
    expect(o.progress.at(-1)?.dirtyRateBytesPerSecond).toBeGreaterThan(10 * MiB);
  });

  it("ranks game worst and idle best on time, downtime and data", () => {
    const [idle, video, game] = [on(WORKLOADS.idle), on(WORKLOADS.video), on(WORKLOADS.game)];
    expect(game.totalTimeMs).toBeGreaterThan(2 * video.totalTimeMs);
    expect(game.downtimeMs).toBeGreaterThan(2 * video.downtimeMs);
    expect(game.transferredBytes).toBeGreaterThan(2 * video.transferredBytes);
    expect(video.totalTimeMs).toBeGreaterThan(idle.totalTimeMs);
    expect(video.downtimeMs).toBeGreaterThan(idle.downtimeMs);
    expect(video.transferredBytes).toBeGreaterThan(idle.transferredBytes);
  });
});

describe("simulateMigration", () => {
  it("is deterministic and the seed only nudges it", () => {
    expect(on(WORKLOADS.video)).toEqual(on(WORKLOADS.video));
    const a = on(WORKLOADS.video, LINK_1GBIT_BYTES_PER_SECOND, { seed: 1 });
    const b = on(WORKLOADS.video, LINK_1GBIT_BYTES_PER_SECOND, { seed: 2 });
    expect(a).not.toEqual(b);
    expect(Math.abs(a.totalTimeMs - b.totalTimeMs)).toBeLessThan(3000);
  });

  it("logs a progress point about every second, as PVE does", () => {
    const o = on(WORKLOADS.video);
    expect(o.progress.length).toBeGreaterThan(10);
    o.progress.forEach((p, i) => {
      expect(p.totalBytes).toBe(4 * GiB + 17 * MiB);
      if (i > 0) {
        const prev = o.progress[i - 1] as (typeof o.progress)[number];
        expect(p.atMs - prev.atMs).toBe(1000);
        expect(p.transferredBytes).toBeGreaterThan(prev.transferredBytes);
      }
    });
    // Round 1: transferred grows at the link rate; the page rate (zero pages included) is higher.
    const first = o.progress[0] as (typeof o.progress)[number];
    expect(first.atMs).toBe(1000);
    expect(first.transferredBytes).toBe(LINK_1GBIT_BYTES_PER_SECOND);
    expect(first.speedBytesPerSecond).toBeGreaterThan(LINK_1GBIT_BYTES_PER_SECOND);
    expect(first.dirtyRateBytesPerSecond).toBe(0);
  });

  it("reports the average speed over the RAM phase as PVE computes it (VM-state total / time)", () => {
    const o = on(WORKLOADS.idle);
    expect(o.averageSpeedBytesPerSecond).toBe(Math.round(o.vmStateTotalBytes / (o.ramPhaseMs / 1000)));
  });

  it("keeps the guest-visible outage above the reported downtime (PVE resumes after polling)", () => {
    for (const w of Object.values(WORKLOADS)) {
      const o = on(w);
      timelineInOrder(o);
      expect(o.clientOutageMs).toBeGreaterThan(o.downtimeMs);
      expect(o.timeline.resumedMs - o.timeline.switchoverMs).toBe(o.clientOutageMs);
      expect(o.clientOutageMs - o.downtimeMs).toBeLessThan(1200);
    }
  });

  it("follows the real vm105 timing: ~4 s to start the target, ~4 s to clean up", () => {
    const t = on(WORKLOADS.idle).timeline;
    expect(t.targetStartedMs - t.targetStartBeginMs).toBeGreaterThanOrEqual(3300);
    expect(t.targetStartedMs - t.targetStartBeginMs).toBeLessThanOrEqual(3900);
    expect(t.endMs - t.resumedMs).toBeGreaterThanOrEqual(3600);
    expect(t.endMs - t.resumedMs).toBeLessThanOrEqual(4300);
  });

  it("mirrors local disks before the RAM phase while the guest keeps writing", () => {
    const disk = 8 * GiB;
    const plain = on(WORKLOADS.video);
    const o = on(WORKLOADS.video, LINK_1GBIT_BYTES_PER_SECOND, { localDiskBytes: disk });
    timelineInOrder(o);
    const mirror = o.diskMirror;
    if (!mirror) throw new Error("expected a disk mirror");
    expect(mirror.totalBytes).toBe(disk);
    expect(mirror.transferredBytes).toBeGreaterThan(disk);
    const last = mirror.progress.at(-1);
    expect(last).toMatchObject({ ready: true, transferredBytes: disk });
    expect(mirror.progress.filter((p) => p.ready)).toHaveLength(1);
    expect(mirror.progress[0]).toMatchObject({ atMs: 0, transferredBytes: 0, ready: false });
    const t = o.timeline;
    expect((t.diskMirrorReadyMs ?? 0) - (t.diskMirrorStartMs ?? 0)).toBeGreaterThanOrEqual(
      (disk / LINK_1GBIT_BYTES_PER_SECOND) * 1000,
    );
    expect(o.totalTimeMs).toBeGreaterThan(plain.totalTimeMs + 70_000);
    // Block-job completion (a 1 s poll) and nbdstop come before the resume: clients wait longer.
    expect(o.clientOutageMs).toBeGreaterThan(plain.clientOutageMs + 1000);
  });

  it("switches a tiny guest over at once", () => {
    const o = simulateMigration({
      memoryBytes: 1 * MiB,
      workload: WORKLOADS.idle,
      bandwidthBytesPerSecond: LINK_10GBIT_BYTES_PER_SECOND,
      downtimeLimitMs: 1000,
    });
    expect(o).toMatchObject({ rounds: 1, converged: true });
    expect(o.timeline.switchoverMs).toBe(o.timeline.ramStartMs);
  });

  it("a generous limit lets even the game switch over after the first round", () => {
    const o = on(WORKLOADS.game, LINK_1GBIT_BYTES_PER_SECOND, { downtimeLimitMs: 30_000 });
    expect(o).toMatchObject({ rounds: 1, converged: true, downtimeIncreases: [] });
    expect(o.downtimeMs).toBeGreaterThan(5000);
  });

  it("caps the doubling and stops at the safety limit without claiming convergence", () => {
    const o = on(WORKLOADS.game, 60 * MiB, { maxDowntimeLimitMs: 300, maxRamPhaseMs: 100_000 });
    expect(o.downtimeIncreases.at(-1)).toEqual({ atMs: expect.any(Number), limitMs: 300, capped: true });
    expect(o.finalDowntimeLimitMs).toBe(300);
    expect(o.downtimeIncreases.every((i) => i.limitMs <= 300)).toBe(true);
    expect(o.converged).toBe(false);
    expect(o.downtimeMs).toBeGreaterThan(300);
  });

  it("refuses impossible inputs", () => {
    expect(() => on(WORKLOADS.idle, 0)).toThrow(/bandwidthBytesPerSecond/);
    expect(() => simulateMigration({ ...baseInput(), memoryBytes: Number.NaN })).toThrow(/memoryBytes/);
    expect(() =>
      simulateMigration({ ...baseInput(), workload: { ...WORKLOADS.idle, touchedFraction: 2 } }),
    ).toThrow(/touchedFraction/);
    expect(() => simulateMigration({ ...baseInput(), downtimeLimitMs: -1 })).toThrow(/downtimeLimitMs/);
  });
});

function baseInput(): MigrationInput {
  return {
    memoryBytes: 4 * GiB,
    workload: WORKLOADS.idle,
    bandwidthBytesPerSecond: LINK_1GBIT_BYTES_PER_SECOND,
  };
}

const arbWorkload = fc.record({
  name: fc.constantFrom("idle" as const, "video" as const, "game" as const),
  dirtyRateBytesPerSecond: fc.double({ min: 0, max: 2 * GiB, noNaN: true }),
  workingSetBytes: fc.double({ min: 1 * MiB, max: 16 * GiB, noNaN: true }),
  touchedFraction: fc.double({ min: 0, max: 1, noNaN: true }),
  diskWriteBytesPerSecond: fc.double({ min: 0, max: 64 * MiB, noNaN: true }),
});

const arbInput: fc.Arbitrary<MigrationInput> = fc.record({
  memoryBytes: fc.double({ min: 64 * MiB, max: 32 * GiB, noNaN: true }),
  workload: arbWorkload,
  bandwidthBytesPerSecond: fc.double({ min: 20 * MiB, max: 4 * GiB, noNaN: true }),
  downtimeLimitMs: fc.oneof(fc.constant(100), fc.integer({ min: 1, max: 5000 })),
  localDiskBytes: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 64 * GiB, noNaN: true })),
  seed: fc.integer(),
});

describe("properties", () => {
  it("sends at least the touched memory", () => {
    fc.assert(
      fc.property(arbInput, (input) => {
        const o = simulateMigration(input);
        expect(o.transferredBytes).toBeGreaterThanOrEqual(
          Math.floor(input.memoryBytes * input.workload.touchedFraction),
        );
      }),
    );
  });

  it("keeps the downtime within the final limit whenever it converged", () => {
    fc.assert(
      fc.property(arbInput, (input) => {
        const o = simulateMigration(input);
        if (o.converged) expect(o.downtimeMs).toBeLessThanOrEqual(o.finalDowntimeLimitMs);
        expect(o.finalDowntimeLimitMs).toBeGreaterThanOrEqual(input.downtimeLimitMs ?? 100);
        timelineInOrder(o);
      }),
    );
  });

  it("never takes longer with more bandwidth", () => {
    fc.assert(
      fc.property(arbInput, fc.double({ min: 1, max: 20, noNaN: true }), (input, factor) => {
        const slow = simulateMigration(input);
        const fast = simulateMigration({
          ...input,
          bandwidthBytesPerSecond: input.bandwidthBytesPerSecond * factor,
        });
        expect(fast.totalTimeMs).toBeLessThanOrEqual(slow.totalTimeMs + EPS);
        expect(fast.ramPhaseMs).toBeLessThanOrEqual(slow.ramPhaseMs + EPS);
      }),
    );
  });

  it("never does better with a higher dirty rate", () => {
    fc.assert(
      fc.property(arbInput, fc.double({ min: 0, max: 1 * GiB, noNaN: true }), (input, extra) => {
        const calm = simulateMigration(input);
        const busy = simulateMigration({
          ...input,
          workload: {
            ...input.workload,
            dirtyRateBytesPerSecond: input.workload.dirtyRateBytesPerSecond + extra,
          },
        });
        expect(busy.totalTimeMs).toBeGreaterThanOrEqual(calm.totalTimeMs - EPS);
        expect(busy.ramPhaseMs).toBeGreaterThanOrEqual(calm.ramPhaseMs - EPS);
        expect(busy.transferredBytes).toBeGreaterThanOrEqual(calm.transferredBytes - 1);
        expect(busy.downtimeMs).toBeGreaterThanOrEqual(calm.downtimeMs);
      }),
    );
  });

  it("ranks game > video > idle on time, downtime and data at the default sizes, for any seed", () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.constantFrom(LINK_1GBIT_BYTES_PER_SECOND, LINK_10GBIT_BYTES_PER_SECOND),
        (seed, bandwidth) => {
          const [idle, video, game] = (["idle", "video", "game"] as const).map((n) =>
            on(WORKLOADS[n], bandwidth, { seed }),
          ) as [MigrationOutcome, MigrationOutcome, MigrationOutcome];
          for (const key of ["downtimeMs", "transferredBytes"] as const) {
            expect(game[key]).toBeGreaterThan(video[key]);
            expect(video[key]).toBeGreaterThan(idle[key]);
          }
          // On 10 Gbit/s idle and video both finish before PVE's second poll: equal task durations.
          expect(game.totalTimeMs).toBeGreaterThan(video.totalTimeMs);
          expect(video.totalTimeMs).toBeGreaterThanOrEqual(idle.totalTimeMs);
          expect(video.timeline.qemuCompletedMs - video.timeline.ramStartMs).toBeGreaterThan(
            idle.timeline.qemuCompletedMs - idle.timeline.ramStartMs,
          );
          if (bandwidth === LINK_1GBIT_BYTES_PER_SECOND)
            expect(video.totalTimeMs).toBeGreaterThan(idle.totalTimeMs);
        },
      ),
      { numRuns: 50 },
    );
  });
});
