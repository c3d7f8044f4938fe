import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseTaskLog } from "../../proxmox/taskLog.ts";
import {
  completionLines,
  initialLoopState,
  type LoopState,
  pollStep,
  progressLine,
  QueryMigrate,
  xbzrleLine,
} from "./pveMigrationLoop.ts";

const MiB = 1024 * 1024;
const T0 = Date.UTC(2026, 10, 29, 18, 0, 0, 400);

/** A `query-migrate` answer as QEMU 10 sends it (trimmed). */
function active(transferred: number, remaining: number, extra: Record<string, unknown> = {}) {
  return QueryMigrate.parse({
    status: "active",
    "expected-downtime": 300,
    "total-time": 1000,
    "setup-time": 2,
    ram: {
      transferred,
      remaining,
      total: 134_807_552,
      duplicate: 10,
      normal: 100,
      mbps: 980.5,
      "dirty-sync-count": 2,
      "page-size": 4096,
      "pages-per-second": 30_000,
      "dirty-pages-rate": 0,
      "precopy-bytes": transferred,
      "downtime-bytes": 0,
      "postcopy-bytes": 0,
    },
    ...extra,
  });
}

describe("PVE's phase-2 loop on query-migrate figures", () => {
  it("logs progress in PVE's words, with the dirty rate when the guest outruns the link", () => {
    expect(progressLine(active(120 * MiB, 40 * MiB))).toBe(
      "migration active, transferred 120.0 MiB of 128.6 MiB VM-state, 117.2 MiB/s",
    );
    const busy = active(300 * MiB, 40 * MiB, {});
    busy.ram = { ...(busy.ram as NonNullable<typeof busy.ram>), "dirty-pages-rate": 40_000 };
    expect(progressLine(busy)).toMatch(/, VM dirties lots of memory: 156\.3 MiB\/s$/);
    expect(
      xbzrleLine(
        QueryMigrate.parse({
          status: "active",
          "xbzrle-cache": { bytes: 40 * MiB, pages: 16_978, "cache-miss-rate": 0.7007, overflow: 3 },
        }),
      ),
    ).toBe("xbzrle: send updates to 16978 pages in 40.0 MiB encoded memory, cache-miss 70.07%, overflow 3");
    expect(xbzrleLine(active(1, 1))).toBeUndefined();
  });

  it("polls every second, then every 100 ms once what remains is below the average per poll", () => {
    let s = initialLoopState(100, T0);
    expect(s.sleepMs).toBe(1000);
    s = pollStep(s, active(110 * MiB, 60 * MiB), T0 + 1000).state;
    expect(s.sleepMs).toBe(1000); // no average yet
    const second = pollStep(s, active(220 * MiB, 40 * MiB), T0 + 2000);
    expect(second.state.sleepMs).toBe(100); // 40 MiB < 110 MiB / 2
    expect(second.lines).toEqual([]); // PVE logs only every tenth poll from then on
    // at 100 ms only every tenth poll logs
    let q = second.state;
    const logged: number[] = [];
    for (let k = 0; k < 20; k++) {
      const step = pollStep(q, active((230 + k) * MiB, 30 * MiB), T0 + 2100 + k * 100);
      if (step.lines.length > 0) logged.push(step.state.i);
      q = step.state;
    }
    expect(logged).toEqual([10, 20]);
  });

  it("doubles the downtime limit after more than five polls in which the remainder grew", () => {
    let s: LoopState = initialLoopState(100, T0);
    const raised: number[] = [];
    const texts: string[] = [];
    for (let k = 1; k <= 14; k++) {
      const step = pollStep(s, active(k * 50 * MiB, (20 + k) * MiB), T0 + k * 1000);
      s = step.state;
      if (step.setDowntimeLimitMs !== undefined) raised.push(step.setDowntimeLimitMs);
      texts.push(...step.lines.map((l) => l.text));
    }
    // the remainder grows from the 2nd poll on: counter 6 at poll 7, again at poll 13
    expect(raised).toEqual([200, 400]);
    expect(texts).toContain("auto-increased downtime to continue migration: 200 ms");
    expect(s.downtimeLimitMs).toBe(400);
  });

  it("caps the limit at QEMU's maximum", () => {
    let s: LoopState = { ...initialLoopState(1_500_000, T0), downtimeCounter: 5, lastRemaining: 1 };
    const step = pollStep(s, active(10 * MiB, 2 * MiB), T0 + 1000);
    s = step.state;
    expect(step.lines.map((l) => l.text)).toEqual([
      expect.stringMatching(/^migration active/),
      "capping downtime limit to maximum possible: 2000000 ms",
      "auto-increased downtime to continue migration: 2000000 ms",
    ]);
    expect(step.setDowntimeLimitMs).toBe(2_000_000);
  });

  it("ends on completed with PVE's lines, which our parser reads back as the same figures", () => {
    const done = QueryMigrate.parse({
      status: "completed",
      "total-time": 6366,
      downtime: 345,
      "setup-time": 3,
      ram: { transferred: 782_856_415, remaining: 0, total: 134_807_552, "page-size": 4096 },
    });
    const step = pollStep(initialLoopState(100, T0), done, T0 + 6500);
    expect(step.verdict).toEqual({ kind: "completed", downtimeMs: 345 });
    expect(step.lines.map((l) => l.text)).toEqual([
      "average migration speed: 21.4 MiB/s - downtime 345 ms",
      "migration completed, transferred 746.6 MiB VM-state",
      "migration status: completed",
    ]);
    const log = [
      "2026-11-29 18:00:00 starting migration of VM 101 to node 'node2' (10.10.10.12)",
      "2026-11-29 18:00:00 migration downtime limit: 100 ms",
      "2026-11-29 18:00:01 migration active, transferred 120.0 MiB of 128.6 MiB VM-state, 117.2 MiB/s",
      ...step.lines.map((l) => `2026-11-29 18:00:06 ${l.text}`),
      "2026-11-29 18:00:07 migration finished successfully (duration 00:00:07)",
      "TASK OK",
    ];
    const parsed = parseTaskLog(log, {});
    expect(parsed.status).toBe("completed");
    expect(parsed.downtimeMs).toBe(345);
    expect(parsed.transferredBytes).toBeCloseTo(782_856_415, -6);
  });

  it("omits the speed line within the first second, as PVE does (no whole second elapsed)", () => {
    const done = QueryMigrate.parse({
      status: "completed",
      downtime: 12,
      ram: { transferred: 5, remaining: 0, total: 9 },
    });
    expect(completionLines(done, 0)).toEqual([
      "migration completed, transferred 5.0 B VM-state",
      "migration status: completed",
    ]);
    expect(completionLines(done, 1, 8)).toEqual([
      "average migration speed: 9.0 B/s - downtime 12 ms",
      "migration status: completed",
    ]);
  });

  it("turns failed and cancelled into PVE's error line, waits out setup, refuses unknown states", () => {
    const s = initialLoopState(100, T0);
    const failed = pollStep(
      s,
      QueryMigrate.parse({ status: "failed", "error-desc": "Unable to write to socket: Broken pipe" }),
      T0,
    );
    expect(failed.lines[0]?.text).toBe(
      "migration status error: failed - Unable to write to socket: Broken pipe",
    );
    expect(failed.verdict).toEqual({ kind: "failed", error: "aborting" });
    expect(pollStep(s, QueryMigrate.parse({ status: "cancelled" }), T0).lines[0]?.text).toBe(
      "migration status error: cancelled",
    );
    const setup = pollStep(s, QueryMigrate.parse({ status: "setup" }), T0);
    expect(setup.verdict.kind).toBe("continue");
    expect(setup.state.sleepMs).toBe(1000);
    expect(pollStep(s, QueryMigrate.parse({ status: "wat" }), T0).verdict.kind).toBe("failed");
  });

  it("never lowers the limit, and polls at 100 ms or 1 s only", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(1_000_000_000), fc.nat(1_000_000_000)), { maxLength: 60 }),
        (polls) => {
          let s = initialLoopState(100, T0);
          let t = T0;
          for (const [transferred, remaining] of polls) {
            t += s.sleepMs;
            const next = pollStep(s, active(transferred, remaining), t).state;
            expect(next.downtimeLimitMs).toBeGreaterThanOrEqual(s.downtimeLimitMs);
            expect([100, 1000]).toContain(next.sleepMs);
            expect(next.i).toBe(s.i + 1);
            s = next;
          }
        },
      ),
    );
  });
});
