import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseRenderedBytes } from "../lib/bytes.ts";
import { parseTaskLog, splitLines } from "../proxmox/taskLog.ts";
import {
  LINK_1GBIT_BYTES_PER_SECOND,
  LINK_10GBIT_BYTES_PER_SECOND,
  type MigrationOutcome,
  simulateMigration,
  WORKLOADS,
} from "./migrationModel.ts";
import {
  formatTaskDuration,
  formatTaskTimestamp,
  localDisksWithoutOption,
  type MigrationLogContext,
  renderDuration,
  renderHaMigrateTaskLog,
  renderMigrationTaskLog,
  xbzrleCacheBytes,
} from "./taskLogWriter.ts";

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const b = (text: string) => parseRenderedBytes(text) as number;

const realVm105 = splitLines(
  readFileSync(
    fileURLToPath(new URL("../proxmox/fixtures/tasklog-qm-live-ok-vm105-ha-pve8.log", import.meta.url)),
    "utf8",
  ),
);

/** The figures of the real vm105 log, as a model outcome would carry them. */
function vm105Outcome(): MigrationOutcome {
  const progress = [
    ["357.9 MiB", "586.6 MiB"],
    ["735.9 MiB", "543.8 MiB"],
    ["1.1 GiB", "399.1 MiB"],
    ["1.3 GiB", "502.5 MiB"],
    ["1.6 GiB", "243.0 MiB"],
    ["1.8 GiB", "320.5 MiB"],
    ["2.2 GiB", "462.0 MiB"],
    ["2.5 GiB", "443.7 MiB"],
  ].map(([sent, speed], i) => ({
    atMs: (i + 1) * 1000,
    transferredBytes: b(sent as string),
    totalBytes: 4113 * MiB,
    speedBytesPerSecond: b(speed as string),
  }));
  return {
    rounds: 1,
    converged: true,
    finalDowntimeLimitMs: 100,
    initialDowntimeLimitMs: 100,
    totalTimeMs: 18_100,
    ramPhaseMs: 9000,
    downtimeMs: 73,
    clientOutageMs: 130,
    transferredBytes: b("2.5 GiB"),
    averageSpeedBytesPerSecond: 457 * MiB,
    progress,
    vmStateTotalBytes: 4113 * MiB,
    downtimeIncreases: [],
    throttlePercent: 0,
    timeline: {
      prepareDoneMs: 300,
      targetStartBeginMs: 302,
      targetStartedMs: 4100,
      tunnelReadyMs: 5000,
      ramStartMs: 5100,
      switchoverMs: 13_970,
      qemuCompletedMs: 14_043,
      completionLoggedMs: 14_100,
      resumedMs: 14_100,
      endMs: 18_100,
    },
  };
}

const vm105Context: MigrationLogContext = {
  vmid: 105,
  targetNode: "pve1",
  targetAddress: "10.10.1.1",
  startedAt: new Date("2025-01-04T00:34:24.000Z"),
  memoryBytes: 4 * GiB,
  pveVersion: 8,
  startedByHa: true,
  migrationNetwork: true,
};

const ctx = (over: Partial<MigrationLogContext> = {}): MigrationLogContext => ({
  vmid: 110,
  targetNode: "node2",
  targetAddress: "10.0.0.2",
  startedAt: new Date("2025-10-14T09:12:03.400Z"),
  memoryBytes: 4 * GiB,
  ...over,
});

const texts = (r: { lines: { text: string }[] }) => r.lines.map((l) => l.text);

describe("formatting helpers", () => {
  it("prints PVE's stamps, durations and cache size", () => {
    expect(formatTaskTimestamp(new Date("2025-01-04T00:34:24.999Z"))).toBe("2025-01-04 00:34:24");
    expect(formatTaskDuration(18)).toBe("00:00:18");
    expect(formatTaskDuration(3723)).toBe("01:02:03");
    expect(renderDuration(0)).toBe("0s");
    expect(renderDuration(9)).toBe("9s");
    expect(renderDuration(465)).toBe("7m 45s");
    expect(renderDuration(3723)).toBe("1h 2m 3s");
    expect(xbzrleCacheBytes(4 * GiB)).toBe(512 * MiB);
    expect(xbzrleCacheBytes(2 * GiB)).toBe(256 * MiB);
    expect(xbzrleCacheBytes(3 * GiB)).toBe(512 * MiB);
  });
});

describe("renderMigrationTaskLog: success", () => {
  it("reproduces the real vm105 log line for line", () => {
    const r = renderMigrationTaskLog({ ...vm105Context, result: "ok", outcome: vm105Outcome() });
    expect(texts(r)).toEqual(realVm105);
    expect(r.exitStatus).toBe("OK");
    expect(r.endOffsetMs).toBe(18_100);
    expect(r.truth).toEqual({
      status: "ok",
      pveDowntimeMs: 73,
      clientOutageMs: 130,
      outageStartOffsetMs: 13_970,
      outageEndOffsetMs: 14_100,
      transferredBytes: b("2.5 GiB"),
      totalTimeMs: 18_100,
    });
  });

  it("adds the PVE 9 conntrack and transfer-summary lines", () => {
    const outcome = vm105Outcome();
    const r = renderMigrationTaskLog({ ...vm105Context, pveVersion: 9, result: "ok", outcome });
    const lines = texts(r);
    expect(lines[1]).toBe(
      "2025-01-04 00:34:24 conntrack state migration not supported or disabled, active connections might get dropped",
    );
    const avg = lines.findIndex((l) => l.includes("average migration speed"));
    expect(lines[avg + 1]).toBe("2025-01-04 00:34:38 migration completed, transferred 2.5 GiB VM-state");
    expect(lines[avg + 2]).toBe("2025-01-04 00:34:38 migration status: completed");
  });

  it("keeps offsets ordered and stamps consistent with them", () => {
    const outcome = simulateMigration({
      memoryBytes: 4 * GiB,
      workload: WORKLOADS.game,
      bandwidthBytesPerSecond: LINK_1GBIT_BYTES_PER_SECOND,
      localDiskBytes: 4 * GiB,
    });
    const c = ctx({ localDisks: [{ drive: "scsi0", volid: "local-lvm:vm-110-disk-0", sizeBytes: 4 * GiB }] });
    const r = renderMigrationTaskLog({ ...c, result: "ok", outcome });
    r.lines.forEach((line, i) => {
      if (i > 0)
        expect(line.offsetMs).toBeGreaterThanOrEqual((r.lines[i - 1] as { offsetMs: number }).offsetMs);
      const stamp = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) /.exec(line.text);
      if (stamp) expect(stamp[1]).toBe(formatTaskTimestamp(new Date(c.startedAt.getTime() + line.offsetMs)));
    });
    expect(r.lines.at(-1)).toEqual({ offsetMs: outcome.totalTimeMs, text: "TASK OK" });
  });

  it("writes the game's auto-increased downtime between the progress lines", () => {
    const outcome = simulateMigration({
      memoryBytes: 4 * GiB,
      workload: WORKLOADS.game,
      bandwidthBytesPerSecond: LINK_1GBIT_BYTES_PER_SECOND,
    });
    const lines = texts(renderMigrationTaskLog({ ...ctx(), result: "ok", outcome }));
    const increases = lines.filter((l) => l.includes("auto-increased downtime"));
    expect(increases.map((l) => l.slice(20))).toEqual([
      "auto-increased downtime to continue migration: 200 ms",
      "auto-increased downtime to continue migration: 400 ms",
    ]);
    const first = lines.indexOf(increases[0] as string);
    expect(lines[first - 1]).toMatch(/ migration active, transferred /);
    expect(lines.find((l) => l.includes("average migration speed"))).toMatch(
      new RegExp(` - downtime ${outcome.downtimeMs} ms$`),
    );
  });

  it("writes a PVE 9 with-local-disks migration in PVE's order", () => {
    const outcome = simulateMigration({
      memoryBytes: 2 * GiB,
      workload: WORKLOADS.idle,
      bandwidthBytesPerSecond: LINK_10GBIT_BYTES_PER_SECOND,
      localDiskBytes: 16 * GiB,
      seed: 3,
    });
    const c = ctx({
      memoryBytes: 2 * GiB,
      localDisks: [{ drive: "scsi0", volid: "local-lvm:vm-110-disk-0", sizeBytes: 16 * GiB }],
    });
    const lines = texts(renderMigrationTaskLog({ ...c, result: "ok", outcome }));
    const shape = lines.map((l) => l.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d /, "<ts> "));
    const mirrorLines = shape.filter((l) => l.startsWith("mirror-scsi0: transferred"));
    expect(mirrorLines[0]).toBe("mirror-scsi0: transferred 0.0 B of 16.0 GiB (0.00%) in 0s");
    expect(mirrorLines.at(-1)).toMatch(
      /^mirror-scsi0: transferred 16\.0 GiB of 16\.0 GiB \(100\.00%\) in 1[45]s, ready$/,
    );
    const withoutProgress = shape.filter(
      (l) => !l.startsWith("mirror-scsi0: transferred") && !l.includes(" migration active, "),
    );
    expect(withoutProgress).toEqual([
      "<ts> conntrack state migration not supported or disabled, active connections might get dropped",
      "<ts> starting migration of VM 110 to node 'node2' (10.0.0.2)",
      "<ts> found local disk 'local-lvm:vm-110-disk-0' (attached)",
      "<ts> starting VM 110 on remote node 'node2'",
      "<ts> volume 'local-lvm:vm-110-disk-0' is 'local-lvm:vm-110-disk-0' on the target",
      "<ts> start remote tunnel",
      "<ts> ssh tunnel ver 1",
      "<ts> starting storage migration",
      "<ts> scsi0: start migration to nbd:unix:/run/qemu-server/110_nbd.migrate:exportname=drive-scsi0",
      "drive mirror is starting for drive-scsi0",
      "all 'mirror' jobs are ready",
      "<ts> switching mirror jobs to actively synced mode",
      "mirror-scsi0: switching to actively synced mode",
      "mirror-scsi0: successfully switched to actively synced mode",
      "<ts> starting online/live migration on unix:/run/qemu-server/110.migrate",
      "<ts> set migration capabilities",
      "<ts> migration downtime limit: 100 ms",
      "<ts> migration cachesize: 256.0 MiB",
      "<ts> set migration parameters",
      "<ts> start migrate command to unix:/run/qemu-server/110.migrate",
      expect.stringMatching(/^<ts> average migration speed: [\d.]+ (MiB|GiB)\/s - downtime \d+ ms$/),
      expect.stringMatching(/^<ts> migration completed, transferred [\d.]+ (MiB|GiB) VM-state$/),
      "<ts> migration status: completed",
      "all 'mirror' jobs are ready",
      "mirror-scsi0: Completing block job...",
      "mirror-scsi0: Completed successfully.",
      "mirror-scsi0: mirror-job finished",
      "<ts> stopping NBD storage migration server on target.",
      expect.stringMatching(/^<ts> migration finished successfully \(duration 00:00:\d\d\)$/),
      "TASK OK",
    ]);
  });

  it("mirrors several disks one after the other, as PVE starts them", () => {
    const outcome = simulateMigration({
      memoryBytes: 2 * GiB,
      workload: WORKLOADS.idle,
      bandwidthBytesPerSecond: LINK_1GBIT_BYTES_PER_SECOND,
      localDiskBytes: 3 * GiB,
    });
    const c = ctx({
      pveVersion: 8,
      localDisks: [
        { drive: "scsi1", volid: "local-lvm:vm-110-disk-1", sizeBytes: 1 * GiB },
        { drive: "scsi0", volid: "local-lvm:vm-110-disk-0", sizeBytes: 2 * GiB },
      ],
    });
    const lines = texts(renderMigrationTaskLog({ ...c, result: "ok", outcome }));
    const ready = lines.filter((l) => l.endsWith(", ready"));
    expect(ready).toHaveLength(2);
    expect(ready[0]).toMatch(/^drive-scsi0: transferred 2\.0 GiB of 2\.0 GiB \(100\.00%\) in \d+s, ready$/);
    expect(ready[1]).toMatch(/^drive-scsi1: transferred 1\.0 GiB of 1\.0 GiB \(100\.00%\) in \d+s, ready$/);
    const secondStart = lines.indexOf("drive mirror is starting for drive-scsi1");
    expect(secondStart).toBeGreaterThan(lines.indexOf(ready[0] as string));
    expect(lines[secondStart + 1]).toMatch(/^drive-scsi1: transferred .* in 0s$/);
    expect(lines.filter((l) => l === "drive-scsi0: mirror-job finished")).toHaveLength(1);
    expect(lines.filter((l) => l === "drive-scsi1: mirror-job finished")).toHaveLength(1);
  });

  it("refuses local disks the outcome did not mirror", () => {
    const outcome = simulateMigration({
      memoryBytes: 2 * GiB,
      workload: WORKLOADS.idle,
      bandwidthBytesPerSecond: LINK_1GBIT_BYTES_PER_SECOND,
    });
    const c = ctx({ localDisks: [{ drive: "scsi0", volid: "local-lvm:vm-110-disk-0", sizeBytes: GiB }] });
    expect(() => renderMigrationTaskLog({ ...c, result: "ok", outcome })).toThrow(/no disk mirror/);
  });
});

describe("renderMigrationTaskLog: failures", () => {
  it("writes a prepare-phase abort", () => {
    const r = renderMigrationTaskLog({
      ...ctx({ startedByHa: true, startedAt: new Date("2026-02-03T10:00:00.000Z") }),
      result: "aborted",
      reason: "Can't connect to destination address using public key",
      detailLines: [
        "# /usr/bin/ssh -e none -o 'BatchMode=yes' root@10.0.0.2 /bin/true",
        "Host key verification failed.",
      ],
    });
    expect(texts(r)).toEqual([
      "task started by HA resource agent",
      "2026-02-03 10:00:00 # /usr/bin/ssh -e none -o 'BatchMode=yes' root@10.0.0.2 /bin/true",
      "2026-02-03 10:00:00 Host key verification failed.",
      "2026-02-03 10:00:00 ERROR: migration aborted (duration 00:00:00): Can't connect to destination address using public key",
      "TASK ERROR: migration aborted",
    ]);
    expect(r.exitStatus).toBe("migration aborted");
    expect(r.truth).toEqual({ status: "failed", totalTimeMs: 400 });
  });

  it("writes the local-disks-without-option abort of phase 1", () => {
    const c = ctx({
      pveVersion: 8,
      startedAt: new Date("2025-05-05T10:00:00.000Z"),
      localDisks: [{ drive: "scsi0", volid: "local-lvm:vm-101-disk-0", sizeBytes: 32 * GiB }],
      vmid: 101,
      targetNode: "pve2",
      targetAddress: "10.0.0.12",
    });
    const r = renderMigrationTaskLog({ ...localDisksWithoutOption(c), durationMs: 1200 });
    expect(texts(r)).toEqual([
      "2025-05-05 10:00:00 starting migration of VM 101 to node 'pve2' (10.0.0.12)",
      "2025-05-05 10:00:00 found local disk 'local-lvm:vm-101-disk-0' (attached)",
      "2025-05-05 10:00:00 can't migrate local disk 'local-lvm:vm-101-disk-0': can't live migrate attached local disks without with-local-disks option",
      "2025-05-05 10:00:00 ERROR: Problem found while scanning volumes - can't migrate VM - check log",
      "2025-05-05 10:00:00 aborting phase 1 - cleanup resources",
      "2025-05-05 10:00:01 ERROR: migration aborted (duration 00:00:01): Problem found while scanning volumes - can't migrate VM - check log",
      "TASK ERROR: migration aborted",
    ]);
  });

  it("writes a live-phase failure: progress, then problems, the guest stays put", () => {
    const outcome = simulateMigration({
      memoryBytes: 4 * GiB,
      workload: WORKLOADS.video,
      bandwidthBytesPerSecond: LINK_1GBIT_BYTES_PER_SECOND,
    });
    const r = renderMigrationTaskLog({
      ...ctx({ pveVersion: 8 }),
      result: "problems",
      outcome,
      failAtRamMs: 2500,
      qemuError: "Unable to write to socket: Broken pipe",
    });
    const shape = texts(r)
      .slice(-8)
      .map((l) => l.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d /, "<ts> "));
    expect(shape).toEqual([
      expect.stringMatching(/^<ts> migration active, transferred 117\.0 MiB of 4\.0 GiB VM-state, /),
      expect.stringMatching(/^<ts> migration active, transferred 234\.0 MiB of 4\.0 GiB VM-state, /),
      "<ts> migration status error: failed - Unable to write to socket: Broken pipe",
      "<ts> ERROR: online migrate failure - aborting",
      "<ts> aborting phase 2 - cleanup resources",
      "<ts> migrate_cancel",
      expect.stringMatching(/^<ts> ERROR: migration finished with problems \(duration 00:00:\d\d\)$/),
      "TASK ERROR: migration problems",
    ]);
    expect(r.exitStatus).toBe("migration problems");
    expect(r.truth).toEqual({ status: "failed", totalTimeMs: r.endOffsetMs, transferredBytes: 234 * MiB });
  });
});

describe("renderHaMigrateTaskLog", () => {
  it("writes the short hamigrate task", () => {
    expect(renderHaMigrateTaskLog({ vmid: 105, targetNode: "pve1" })).toEqual({
      lines: [
        { offsetMs: 0, text: "Requesting HA migration for VM 105 to node pve1" },
        { offsetMs: 300, text: "TASK OK" },
      ],
      exitStatus: "OK",
      endOffsetMs: 300,
    });
  });

  it("relays ha-manager's refusal", () => {
    const r = renderHaMigrateTaskLog({
      vmid: 20026,
      targetNode: "PVE-2-2",
      refused: {
        outputLines: [
          "cannot migrate resource 'vm:20026' to node 'PVE-2-2':",
          "- resource 'vm:20027' on target node 'PVE-2-2' in negative affinity with resource 'vm:20026'",
        ],
      },
    });
    expect(r.exitStatus).toBe("command 'ha-manager migrate vm:20026 PVE-2-2' failed: exit code 2");
    expect(texts(r).at(-1)).toBe(
      "TASK ERROR: command 'ha-manager migrate vm:20026 PVE-2-2' failed: exit code 2",
    );
    const parsed = parseTaskLog(texts(r));
    expect(parsed).toMatchObject({
      taskKind: "hamigrate",
      vmid: 20026,
      targetNode: "PVE-2-2",
      status: "failed",
    });
  });
});

describe("round trip through the task-log parser (proxmox/taskLog.ts)", () => {
  it("reads back what the writer wrote for each workload, version and disk set-up", () => {
    for (const workload of Object.values(WORKLOADS)) {
      for (const pveVersion of [8, 9] as const) {
        for (const disk of [0, 8 * GiB]) {
          const outcome = simulateMigration({
            memoryBytes: 4 * GiB,
            workload,
            bandwidthBytesPerSecond: LINK_1GBIT_BYTES_PER_SECOND,
            localDiskBytes: disk,
          });
          const c = ctx({
            pveVersion,
            startedByHa: workload.name === "idle",
            migrationNetwork: workload.name === "video",
            localDisks: disk ? [{ drive: "scsi0", volid: "local-zfs:vm-110-disk-0", sizeBytes: disk }] : [],
          });
          const r = renderMigrationTaskLog({ ...c, result: "ok", outcome });
          const parsed = parseTaskLog(texts(r));
          expect(parsed).toMatchObject({
            status: "completed",
            taskResult: "OK",
            taskKind: "qmigrate",
            vmid: 110,
            targetNode: "node2",
            targetAddress: "10.0.0.2",
            startedByHa: workload.name === "idle",
            downtimeMs: outcome.downtimeMs,
            downtimeLimitMs: 100,
            autoIncreaseCount: outcome.downtimeIncreases.length,
            xbzrleCacheBytes: 512 * MiB,
            errorLines: [],
            relayedLines: [],
          });
          expect(parsed.progress).toHaveLength(outcome.progress.length);
          expect(parsed.durationMs).toBeGreaterThanOrEqual(
            Math.floor(outcome.totalTimeMs / 1000) * 1000 - 1000,
          );
          expect(parsed.durationMs).toBeLessThanOrEqual(Math.ceil(outcome.totalTimeMs / 1000) * 1000);
          // PVE 9 states the final figure; before, only the last progress line (up to a poll earlier) does.
          const sent =
            pveVersion === 9 ? outcome.transferredBytes : (outcome.progress.at(-1)?.transferredBytes ?? 0);
          expect(Math.abs((parsed.transferredBytes ?? 0) - sent)).toBeLessThan(0.05 * sent);
          expect(parsed.pveVersionHint).toBe(pveVersion === 9 ? "PVE 9" : "PVE 6 or later");
          if (disk) {
            expect(parsed.localDisks).toMatchObject([
              { volid: "local-zfs:vm-110-disk-0", reference: "attached" },
            ]);
            // PVE 9 announces the mirror by device (`drive mirror is starting for drive-scsi0`) and then
            // reports the job as `mirror-scsi0`; the parser lists the announcement as a job of its own.
            expect(parsed.diskMirrors).toEqual(
              expect.arrayContaining([
                expect.objectContaining({
                  jobId: pveVersion === 9 ? "mirror-scsi0" : "drive-scsi0",
                  ready: true,
                  finished: true,
                  percent: 100,
                }),
              ]),
            );
          }
        }
      }
    }
  });

  it("reads back failures", () => {
    const outcome = simulateMigration({
      memoryBytes: 4 * GiB,
      workload: WORKLOADS.game,
      bandwidthBytesPerSecond: LINK_1GBIT_BYTES_PER_SECOND,
    });
    const problems = parseTaskLog(
      texts(
        renderMigrationTaskLog({
          ...ctx(),
          result: "problems",
          outcome,
          failAtRamMs: 45_000,
          qemuError: "Unable to write to socket: Connection reset by peer",
        }),
      ),
    );
    expect(problems).toMatchObject({
      status: "failed",
      taskResult: "ERROR: migration problems",
      migrationStatusError: "failed - Unable to write to socket: Connection reset by peer",
      autoIncreaseCount: 1,
    });
    const aborted = parseTaskLog(
      texts(renderMigrationTaskLog({ ...ctx(), result: "aborted", reason: "VM is locked (backup)" })),
    );
    expect(aborted).toMatchObject({ status: "aborted", error: "VM is locked (backup)" });
  });

  it("keeps the parsed downtime, increases and progress equal to the model's for any run", () => {
    fc.assert(
      fc.property(
        fc.record({
          memoryGiB: fc.integer({ min: 1, max: 32 }),
          workload: fc.constantFrom(...Object.values(WORKLOADS)),
          bandwidthMiB: fc.integer({ min: 50, max: 2400 }),
          pveVersion: fc.constantFrom(8 as const, 9 as const),
          seed: fc.integer(),
          startSecond: fc.integer({ min: 0, max: 86_399 }),
        }),
        (p) => {
          const outcome = simulateMigration({
            memoryBytes: p.memoryGiB * GiB,
            workload: p.workload,
            bandwidthBytesPerSecond: p.bandwidthMiB * MiB,
            seed: p.seed,
          });
          const startedAt = new Date(Date.UTC(2025, 0, 1) + p.startSecond * 1000 + (p.seed & 0x3ff));
          const r = renderMigrationTaskLog({
            ...ctx({ pveVersion: p.pveVersion, memoryBytes: p.memoryGiB * GiB, startedAt }),
            result: "ok",
            outcome,
          });
          const parsed = parseTaskLog(texts(r));
          expect(parsed.status).toBe("completed");
          expect(parsed.downtimeMs).toBe(outcome.downtimeMs);
          expect(parsed.autoIncreaseCount).toBe(outcome.downtimeIncreases.length);
          expect(parsed.progress).toHaveLength(outcome.progress.length);
          expect(parsed.durationMs).toBe(
            (Math.floor((startedAt.getTime() + outcome.totalTimeMs) / 1000) -
              Math.floor(startedAt.getTime() / 1000)) *
              1000,
          );
        },
      ),
      { numRuns: 60 },
    );
  });
});
