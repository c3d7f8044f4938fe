import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { renderBytes } from "../lib/bytes.ts";
import {
  createTaskLogParser,
  type MigrationTaskReport,
  parseTaskLog,
  parseTaskLogEntries,
  parseTaskLogText,
  splitLines,
} from "./taskLog.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const fixture = (name: string) => readFileSync(`${FIXTURES}${name}.log`, "utf8");
/** Only the task-log fixtures: the folder is shared with other fixture kinds. */
const LOG_FIXTURES = readdirSync(FIXTURES)
  .filter((f) => /^(?:tasklog|blockjob|synthetic)-.*\.log$/.test(f))
  .map((f) => f.replace(/\.log$/, ""));
const parseFixture = (name: string, context?: Parameters<typeof parseTaskLogText>[1]) =>
  parseTaskLogText(fixture(name), context);

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
/** What PVE's render_bytes prints, read back: "%.1f" of the unit. */
const rendered = (value: number, unit: number) => Math.round(value * unit);

describe("real PVE task logs", () => {
  it("has every fixture this file asserts on", () => {
    expect(LOG_FIXTURES).toHaveLength(13);
  });

  it("vm105: HA-started PVE 8 live migration on shared storage", () => {
    const r = parseFixture("tasklog-qm-live-ok-vm105-ha-pve8");
    expect(r).toMatchObject({
      status: "completed",
      taskEnded: true,
      taskResult: "OK",
      taskKind: "qmigrate",
      vmid: 105,
      guestType: "qemu",
      targetNode: "pve1",
      targetAddress: "10.10.1.1",
      migrationNetworkAddress: "10.10.1.1",
      startedByHa: true,
      startedAt: "2025-01-04T00:34:24",
      durationMs: 18_000,
      logSpanMs: 18_000,
      downtimeMs: 73,
      downtimeLimitMs: 100,
      xbzrleCacheBytes: 512 * MiB,
      averageSpeedBytesPerSecond: rendered(457.0, MiB),
      totalBytes: 4 * GiB,
      transferredBytes: rendered(2.5, GiB),
      autoIncreaseCount: 0,
      errorLines: [],
      warnings: [],
      relayedLines: [],
      localDisks: [],
      diskMirrors: [],
      lineCount: 24,
    });
    expect(r.error).toBeUndefined();
    expect(r.autoIncreasedDowntimeMs).toBeUndefined();
    expect(r.sourceNode).toBeUndefined();
    expect(r.progress).toHaveLength(8);
    expect(r.progress[0]).toEqual({
      at: 6000,
      transferredBytes: rendered(357.9, MiB),
      totalBytes: 4 * GiB,
      speedBytesPerSecond: rendered(586.6, MiB),
    });
    expect(r.progress.map((p) => p.at)).toEqual([6000, 7000, 8000, 9000, 10000, 11000, 12000, 13000]);
    expect(r.progress.map((p) => p.transferredBytes)).toEqual([
      rendered(357.9, MiB),
      rendered(735.9, MiB),
      rendered(1.1, GiB),
      rendered(1.3, GiB),
      rendered(1.6, GiB),
      rendered(1.8, GiB),
      rendered(2.2, GiB),
      rendered(2.5, GiB),
    ]);
    expect(r.progress.at(-1)?.speedBytesPerSecond).toBe(rendered(443.7, MiB));
  });

  it("vm105 with its UPID: source node and task kind come from the UPID", () => {
    const upid = "UPID:pve2:0001E240:00ABCDEF:67787E90:qmigrate:105:root@pam:";
    const r = parseFixture("tasklog-qm-live-ok-vm105-ha-pve8", { upid });
    expect(r.upid).toBe(upid);
    expect(r.sourceNode).toBe("pve2");
    expect(parseFixture("tasklog-qm-live-ok-vm105-ha-pve8", { upid, sourceNode: "other" }).sourceNode).toBe(
      "other",
    );
  });

  it("hamigrate rejected by a negative-affinity rule: failed, error carries the CRM reason", () => {
    const r = parseFixture("tasklog-hamigrate-negative-affinity-error");
    expect(r).toMatchObject({
      status: "failed",
      taskEnded: true,
      taskKind: "hamigrate",
      vmid: 20026,
      targetNode: "PVE-2-2",
      startedByHa: false,
      progress: [],
      taskResult: "ERROR: command 'ha-manager migrate vm:20026 PVE-2-2' failed: exit code 2",
    });
    expect(r.error).toBe(
      [
        "cannot migrate resource 'vm:20026' to node 'PVE-2-2':",
        "- resource 'vm:20027' on target node 'PVE-2-2' in negative affinity with resource 'vm:20026'",
        "command 'ha-manager migrate vm:20026 PVE-2-2' failed: exit code 2",
      ].join("\n"),
    );
    expect(r.startedAt).toBeUndefined();
    expect(r.durationMs).toBeUndefined();
    expect(r.downtimeMs).toBeUndefined();
  });

  it("aborted by a failed ssh host-key check after HA maintenance (no TASK line kept)", () => {
    const r = parseFixture("tasklog-qm-aborted-ssh-hostkey-ha-maintenance");
    expect(r).toMatchObject({
      status: "aborted",
      taskEnded: false,
      startedByHa: true,
      error: "Can't connect to destination address using public key",
      errorLines: ["migration aborted: Can't connect to destination address using public key"],
    });
    expect(r.relayedLines).toContain("Host key verification failed.");
    expect(r.relayedLines).toHaveLength(4);
    expect(r.vmid).toBeUndefined();
    expect(r.transferredBytes).toBeUndefined();
  });

  it("pxvirt #77: cut-off offline copy of local disks", () => {
    const r = parseFixture("tasklog-qm-offline-localdisk-pxvirt77-partial");
    expect(r).toMatchObject({
      status: "running",
      taskEnded: false,
      vmid: 102,
      targetNode: "t6-2",
      targetAddress: "192.168.179.15",
      startedAt: "2024-04-20T19:01:18",
      durationMs: 3000,
      progress: [],
      relayedLines: [],
    });
    expect(r.localDisks).toEqual([
      {
        volid: "local:102/vm-102-cloudinit.qcow2",
        replicated: false,
        generated: true,
        reference: "in current VM config",
        drive: "scsi1",
        targetVolid: "local:102/vm-102-cloudinit.qcow2",
      },
      { volid: "local:102/vm-102-disk-0.qcow2", replicated: false, generated: false, reference: "attached" },
      { volid: "local:102/vm-102-disk-1.qcow2", replicated: false, generated: false, reference: "attached" },
    ]);
    expect(r.error).toBeUndefined();
    expect(r.transferredBytes).toBeUndefined();
  });

  it("vm6186 remote-migrate: tunnel lines are relayed, the local disk maps to the target volume", () => {
    const r = parseFixture("tasklog-qm-remote-migrate-localdisk-vm6186-partial");
    expect(r).toMatchObject({
      status: "running",
      vmid: 6186,
      targetNode: "node-2",
      targetAddress: "1.1.176.242",
      startedAt: "2025-11-02T00:18:19",
      durationMs: 8000,
      pveVersionHint: "PVE 9",
      localDisks: [
        {
          volid: "zfs-nvme:vm-6186-disk-0",
          reference: "attached",
          targetVolid: "iscsi-sas:vm-6186-disk-0",
        },
      ],
    });
    expect(r.relayedLines).toHaveLength(11);
    expect(r.relayedLines[0]).toBe('tunnel: -> sending command "version" to remote');
    expect(r.relayedLines).toContain("websocket tunnel started");
    expect(r.warnings).toEqual([
      "conntrack state migration not supported or disabled, active connections might get dropped",
    ]);
  });

  it("PVE 8 drive-mirror block-job lines (no timestamps), cut off before the TASK line", () => {
    const r = parseFixture("blockjob-lines-drive-mirror-movedisk-vm105");
    expect(r.status).toBe("running");
    expect(r.diskMirrors).toHaveLength(1);
    const m = r.diskMirrors[0];
    expect(m).toMatchObject({
      jobId: "drive-scsi0",
      drive: "scsi0",
      transferredBytes: 8 * GiB,
      totalBytes: 8 * GiB,
      percent: 100,
      elapsedMs: 9000,
      ready: true,
      finished: true,
      cancelled: false,
    });
    expect(m?.progress).toHaveLength(10);
    expect(m?.progress[0]).toEqual({
      elapsedMs: 0,
      transferredBytes: 6 * MiB,
      totalBytes: 8 * GiB,
      percent: 0.07,
    });
    expect(m?.progress[1]).toEqual({
      elapsedMs: 1000,
      transferredBytes: 1013 * MiB,
      totalBytes: 8 * GiB,
      percent: 12.37,
    });
    expect(r.relayedLines).toEqual([
      "create full clone of drive scsi0 (vg_drbd1:vm-105-disk-0)",
      '  Logical volume "vm-105-disk-2" created.',
    ]);
  });

  it("PVE 9 mirror-scsi0 block-job lines with minute durations", () => {
    const r = parseFixture("blockjob-lines-mirror-scsi0-pve9-moosefs27");
    expect(r.status).toBe("completed");
    expect(r.pveVersionHint).toBe("PVE 9");
    expect(r.diskMirrors).toHaveLength(1);
    expect(r.diskMirrors[0]).toMatchObject({
      jobId: "mirror-scsi0",
      drive: "scsi0",
      transferredBytes: 32 * GiB,
      totalBytes: 32 * GiB,
      elapsedMs: (7 * 60 + 50) * 1000,
      ready: true,
      finished: true,
    });
    expect(r.diskMirrors[0]?.progress.map((p) => p.elapsedMs)).toEqual(
      [465, 466, 467, 468, 469, 470].map((s) => s * 1000),
    );
    expect(r.diskMirrors[0]?.progress[0]?.transferredBytes).toBe(rendered(31.7, GiB));
    expect(r.relayedLines).toHaveLength(1);
  });
});

describe("synthetic task logs", () => {
  it("PVE 9 live migration with a local disk and `migration completed, transferred`", () => {
    const r = parseFixture("synthetic-pve9-live-localdisk-ok");
    expect(r).toMatchObject({
      status: "completed",
      vmid: 110,
      targetNode: "pve3",
      startedAt: "2025-10-14T09:12:03",
      durationMs: 26_000,
      downtimeMs: 41,
      downtimeLimitMs: 100,
      transferredBytes: rendered(1.4, GiB),
      totalBytes: 2 * GiB,
      averageSpeedBytesPerSecond: 512 * MiB,
      pveVersionHint: "PVE 9",
    });
    expect(r.progress.map((p) => p.at)).toEqual([18_000, 19_000, 20_000]);
    expect(r.diskMirrors[0]).toMatchObject({
      jobId: "mirror-scsi0",
      totalBytes: 16 * GiB,
      elapsedMs: 12_000,
    });
    expect(r.localDisks[0]?.targetVolid).toBe("local-lvm:vm-110-disk-0");
  });

  it("auto-increased downtime, dirty-rate warnings and TASK WARNINGS", () => {
    const r = parseFixture("synthetic-pve8-auto-increased-downtime-warnings");
    expect(r).toMatchObject({
      status: "completed",
      taskResult: "WARNINGS: 1",
      warningCount: 1,
      warnings: ["fstrim on target failed: guest agent not running"],
      downtimeMs: 312,
      downtimeLimitMs: 100,
      autoIncreasedDowntimeMs: 400,
      autoIncreaseCount: 2,
      speedLimitBytesPerSecond: 100 * MiB,
      durationMs: 109_000,
      averageSpeedBytesPerSecond: rendered(80.3, MiB),
      transferredBytes: rendered(9.5, GiB),
      totalBytes: 8 * GiB,
    });
    expect(r.progress[1]?.dirtyRateBytesPerSecond).toBe(rendered(140.2, MiB));
    expect(r.progress[0]?.dirtyRateBytesPerSecond).toBeUndefined();
    expect(r.error).toBeUndefined();
  });

  it("`migration problems`: failed, error names the live-phase cause", () => {
    const r = parseFixture("synthetic-pve8-live-problems");
    expect(r).toMatchObject({
      status: "failed",
      taskResult: "ERROR: migration problems",
      durationMs: 8000,
      migrationStatusError: "failed - Unable to write to socket: Broken pipe",
      error: "online migrate failure - aborting (failed - Unable to write to socket: Broken pipe)",
      transferredBytes: rendered(602.9, MiB),
    });
    expect(r.downtimeMs).toBeUndefined();
  });

  it("cut-off log: running, figures from what is there", () => {
    const r = parseFixture("synthetic-pve8-cut-off-running");
    expect(r).toMatchObject({
      status: "running",
      taskEnded: false,
      startedByHa: true,
      vmid: 120,
      durationMs: 7000,
      transferredBytes: rendered(3.3, GiB),
      totalBytes: 16 * GiB,
    });
    expect(r.progress).toHaveLength(3);
    expect(r.averageSpeedBytesPerSecond).toBeUndefined();
    expect(r.downtimeMs).toBeUndefined();
    expect(r.error).toBeUndefined();
  });

  it("`migration aborted (duration …): reason` gives the error; local-disk problem is kept", () => {
    const r = parseFixture("synthetic-pve8-aborted-localdisk");
    expect(r).toMatchObject({
      status: "aborted",
      durationMs: 1000,
      error: "Problem found while scanning volumes - can't migrate VM - check log",
    });
    expect(r.localDisks[0]?.problem).toBe(
      "can't live migrate attached local disks without with-local-disks option",
    );
  });

  it("PVE 3 style: yearless stamps, `migration status: active (…)` and `migration speed: … MB/s`", () => {
    const r = parseFixture("synthetic-pve3-old-format");
    expect(r).toMatchObject({
      status: "completed",
      vmid: 140,
      durationMs: 23_000,
      downtimeMs: 35,
      downtimeLimitMs: 100,
      averageSpeedBytesPerSecond: Math.round(128.52 * MiB),
      transferredBytes: 2147483648,
      totalBytes: 2156265472,
      pveVersionHint: "PVE 3 or older",
    });
    expect(r.startedAt).toBeUndefined();
    expect(r.progress[0]).toEqual({
      at: 5000,
      transferredBytes: 210763776,
      remainingBytes: 1937768448,
      totalBytes: 2156265472,
    });
  });
});

describe("input forms and edge cases", () => {
  it("API lines [{n,t}] in any order, CRLF text and `no content`", () => {
    const text = fixture("tasklog-qm-live-ok-vm105-ha-pve8");
    const entries = splitLines(text).map((t, i) => ({ n: i + 1, t }));
    const fromEntries = parseTaskLogEntries([...entries].reverse());
    expect(fromEntries).toEqual(parseTaskLogText(text));
    expect(parseTaskLogText(text.replaceAll("\n", "\r\n"))).toEqual(parseTaskLogText(text));
    const empty = parseTaskLogEntries([{ n: 1, t: "no content" }]);
    expect(empty).toMatchObject({ status: "running", lineCount: 1, relayedLines: [], progress: [] });
    expect(parseTaskLogText("").lineCount).toBe(0);
  });

  it("a broken UPID costs only what it would have given", () => {
    const r = parseFixture("tasklog-qm-live-ok-vm105-ha-pve8", { upid: "UPID:broken" });
    expect(r.upid).toBe("UPID:broken");
    expect(r.sourceNode).toBeUndefined();
    expect(r.vmid).toBe(105);
  });

  it("TASK ERROR other than aborted/problems is a failure with that text", () => {
    const r = parseTaskLog(["TASK ERROR: VM is locked (backup)"], {
      upid: "UPID:pve1:00000001:00000002:00000003:qmigrate:101:root@pam:",
    });
    expect(r).toMatchObject({
      status: "failed",
      error: "VM is locked (backup)",
      vmid: 101,
      sourceNode: "pve1",
      taskKind: "qmigrate",
    });
    expect(parseTaskLog(["TASK ERROR: migration aborted"])).toMatchObject({
      status: "aborted",
      error: "migration aborted",
    });
  });

  it("fed incrementally in any chunks, the result equals the whole-log parse", () => {
    fc.assert(
      fc.property(fc.constantFrom(...LOG_FIXTURES), fc.array(fc.nat(40), { maxLength: 6 }), (name, cuts) => {
        const lines = splitLines(fixture(name));
        const parser = createTaskLogParser();
        let from = 0;
        for (const cut of [...cuts].sort((a, b) => a - b)) {
          parser.push(lines.slice(from, Math.max(from, cut)));
          parser.result();
          from = Math.max(from, cut);
        }
        parser.push(lines.slice(from));
        expect(parser.result()).toEqual(parseTaskLog(lines));
      }),
    );
  });
});

const FIXTURE_LINES = LOG_FIXTURES.flatMap((name) => splitLines(fixture(name)));

describe("properties", () => {
  it("never throws on arbitrary lines, nor on mangled real ones", () => {
    const mangled = fc
      .tuple(fc.constantFrom(...FIXTURE_LINES), fc.nat(200), fc.string({ maxLength: 12 }))
      .map(
        ([line, at, insert]) =>
          line.slice(0, at % (line.length + 1)) + insert + line.slice(at % (line.length + 1)),
      );
    const line = fc.oneof(fc.string(), fc.constantFrom(...FIXTURE_LINES), mangled);
    fc.assert(
      fc.property(fc.array(line, { maxLength: 40 }), fc.option(fc.string()), (lines, upid) => {
        const r = parseTaskLog(lines, upid === null ? undefined : { upid });
        expect(r.lineCount).toBe(lines.length);
        expect(["completed", "failed", "aborted", "running"]).toContain(r.status);
      }),
      { numRuns: 300 },
    );
  });

  it("recovers the figures of a rendered synthetic migration (within render_bytes rounding)", () => {
    const figures = fc.record({
      vmid: fc.integer({ min: 100, max: 999_999 }),
      target: fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/),
      start: fc
        .integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2030, 0, 1) })
        .map((ms) => ms - (ms % 1000)),
      setupSeconds: fc.integer({ min: 0, max: 30 }),
      totalBytes: fc.integer({ min: 256 * MiB, max: 1024 * GiB }),
      points: fc.array(
        fc.record({
          gapSeconds: fc.integer({ min: 1, max: 5 }),
          transferredBytes: fc.integer({ min: 0, max: 2 * 1024 * GiB }),
          speed: fc.integer({ min: 0, max: 20 * GiB }),
        }),
        { minLength: 1, maxLength: 20 },
      ),
      downtimeLimitMs: fc.constantFrom(100, 300, 1000),
      autoIncreases: fc.integer({ min: 0, max: 3 }),
      downtimeMs: fc.integer({ min: 1, max: 30_000 }),
      averageSpeed: fc.integer({ min: 1, max: 20 * GiB }),
      finishSeconds: fc.integer({ min: 0, max: 10 }),
      ha: fc.boolean(),
    });
    fc.assert(
      fc.property(figures, (f) => {
        const stamp = (offsetSeconds: number) =>
          new Date(f.start + offsetSeconds * 1000).toISOString().slice(0, 19).replace("T", " ");
        const lines: string[] = f.ha ? ["task started by HA resource agent"] : [];
        lines.push(`${stamp(0)} starting migration of VM ${f.vmid} to node '${f.target}' (10.0.0.2)`);
        lines.push(`${stamp(f.setupSeconds)} migration downtime limit: ${f.downtimeLimitMs} ms`);
        let t = f.setupSeconds;
        const ats: number[] = [];
        for (const p of f.points) {
          t += p.gapSeconds;
          ats.push(t * 1000);
          lines.push(
            `${stamp(t)} migration active, transferred ${renderBytes(p.transferredBytes)} of ${renderBytes(f.totalBytes)} VM-state, ${renderBytes(p.speed)}/s`,
          );
        }
        let limit = f.downtimeLimitMs;
        for (let i = 0; i < f.autoIncreases; i++) {
          limit *= 2;
          lines.push(`${stamp(t)} auto-increased downtime to continue migration: ${limit} ms`);
        }
        lines.push(
          `${stamp(t)} average migration speed: ${renderBytes(f.averageSpeed)}/s - downtime ${f.downtimeMs} ms`,
        );
        lines.push(`${stamp(t)} migration status: completed`);
        const end = t + f.finishSeconds;
        const hh = String(Math.floor(end / 3600)).padStart(2, "0");
        const mm = String(Math.floor((end % 3600) / 60)).padStart(2, "0");
        const ss = String(end % 60).padStart(2, "0");
        lines.push(`${stamp(end)} migration finished successfully (duration ${hh}:${mm}:${ss})`);
        lines.push("TASK OK");

        const r: MigrationTaskReport = parseTaskLog(lines);
        expect(r.status).toBe("completed");
        expect(r.vmid).toBe(f.vmid);
        expect(r.targetNode).toBe(f.target);
        expect(r.startedByHa).toBe(f.ha);
        expect(r.startedAt).toBe(new Date(f.start).toISOString().slice(0, 19));
        expect(r.durationMs).toBe(end * 1000);
        expect(r.downtimeMs).toBe(f.downtimeMs);
        expect(r.downtimeLimitMs).toBe(f.downtimeLimitMs);
        expect(r.autoIncreaseCount).toBe(f.autoIncreases);
        expect(r.autoIncreasedDowntimeMs).toBe(f.autoIncreases > 0 ? limit : undefined);
        expectRenderedClose(r.averageSpeedBytesPerSecond, f.averageSpeed);
        expectRenderedClose(r.totalBytes, f.totalBytes);
        expectRenderedClose(r.transferredBytes, f.points.at(-1)?.transferredBytes ?? -1);
        expect(r.progress.map((p) => p.at)).toEqual(ats);
        r.progress.forEach((p, i) => {
          const want = f.points[i];
          expectRenderedClose(p.transferredBytes, want?.transferredBytes ?? -1);
          expectRenderedClose(p.speedBytesPerSecond, want?.speed ?? -1);
        });
      }),
      { numRuns: 200 },
    );
  });
});

/** render_bytes keeps one decimal of the unit: the error is at most 0.05 unit (plus integer rounding). */
function expectRenderedClose(actual: number | undefined, expected: number) {
  expect(actual).toBeDefined();
  let unit = 1;
  while (expected / unit >= 1024) unit *= 1024;
  expect(Math.abs((actual ?? Number.NaN) - expected)).toBeLessThanOrEqual(0.05 * unit + 1);
}
