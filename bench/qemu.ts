/**
 * Real QEMU live migrations in the lab (lab/qemu/, needs lab/qemu/setup.sh and root): per workload (idle,
 * video, game) over N runs, what PVE's task log reports (QEMU's downtime) against what a client observes
 * (ICMP every 10 ms from the host, through the bridge, longest outage), plus migration time and data
 * transferred, graded with the project's default tables. Each run migrates the guest to the other node
 * through the lab's API, as the worker does.
 *
 * Env: BENCH_QEMU_RUNS (default 3), BENCH_QEMU_METHOD (icmp|tcp, default icmp), BENCH_QEMU_MEMORY_MIB
 * (default 256), PVE_EVACUATE_QEMU_DIR. Without QEMU set up: `{ available: false, reason: "not available: …" }`.
 */

import { LabClusterBuilder } from "../lab/generate.ts";
import { labPveClient } from "../lab/labClient.ts";
import { checkQemuAvailability } from "../lab/qemu/availability.ts";
import { type RunningLab, startLab } from "../lab/server.ts";
import { parseTaskLog } from "../proxmox/taskLog.ts";
import { DEFAULT_GRADING, grade } from "../qos/grading.ts";
import { percentile } from "../qos/metrics.ts";
import { MIGRATION_END_MARK, MIGRATION_START_MARK, startProbe, toSamplesFile } from "../qos/prober.ts";
import { qosReport } from "../qos/report.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const WORKLOADS = [
  { vmid: 101, workload: "idle" },
  { vmid: 102, workload: "video" },
  { vmid: 103, workload: "game" },
] as const;

interface Run {
  pveDowntimeMs?: number;
  observedDowntimeMs?: number;
  migrationTimeMs?: number;
  transferredBytes?: number;
  taskMs: number;
  status: string;
}

function stats(values: (number | undefined)[]) {
  const v = values.filter((x): x is number => x !== undefined).sort((a, b) => a - b);
  if (v.length === 0) return null;
  return { n: v.length, min: v[0], median: percentile(v, 50), max: v[v.length - 1] };
}

export default async function qemuBench(): Promise<Record<string, unknown>> {
  const availability = checkQemuAvailability();
  if (!availability.available) return { available: false, reason: `not available: ${availability.reason}` };
  const runs = Math.max(1, Number(process.env.BENCH_QEMU_RUNS ?? 3));
  const method = process.env.BENCH_QEMU_METHOD === "tcp" ? "tcp" : "icmp";
  const memoryMiB = Number(process.env.BENCH_QEMU_MEMORY_MIB ?? 256);
  const builder = new LabClusterBuilder({ nodes: 2, seed: 3 });
  for (const w of WORKLOADS) builder.vm(w.vmid, { node: "node1", workload: w.workload, memoryGiB: 1 });
  const setupStart = performance.now();
  let lab: RunningLab;
  try {
    lab = await startLab({ port: 0, cluster: builder.build(), authFailureDelayMs: 0, qemu: { memoryMiB } });
  } catch (e) {
    // e.g. the subnet is taken by another lab: the benchmark reports it instead of failing the suite
    return { available: false, reason: `not available: ${(e as Error).message}` };
  }
  const bootMs = Math.round(performance.now() - setupStart);
  const pve = labPveClient(lab);
  const results: Record<string, unknown> = {};
  try {
    const guests = lab.qemu?.guests() ?? [];
    for (const w of WORKLOADS) {
      const guest = guests.find((g) => g.vmid === w.vmid);
      if (!guest) continue;
      const perRun: Run[] = [];
      for (let i = 0; i < runs; i++) {
        const source = lab.cluster.guest(w.vmid)?.node ?? "node1";
        const target = source === "node1" ? "node2" : "node1";
        const probe = await startProbe({ method, host: guest.address, port: guest.tcpPort, intervalMs: 10 });
        await sleep(1000);
        probe.mark(MIGRATION_START_MARK);
        const t0 = performance.now();
        const upid = await pve.startMigration({
          node: source,
          type: "qemu",
          vmid: w.vmid,
          target,
          online: true,
        });
        let status = await pve.taskStatus(source, upid);
        while (status.status === "running") {
          await sleep(100);
          status = await pve.taskStatus(source, upid);
        }
        const taskMs = Math.round(performance.now() - t0);
        probe.mark(MIGRATION_END_MARK);
        await sleep(1000);
        const recording = await probe.stop();
        const report = qosReport(toSamplesFile(recording));
        const log = await pve.taskLog(source, upid, { start: 0, limit: 0 });
        const parsed = parseTaskLog(
          log.lines.map((l) => l.t),
          { upid },
        );
        const truth = lab.groundTruth().find((t) => t.upid === upid);
        perRun.push({
          status: status.exitstatus ?? "?",
          taskMs,
          ...(parsed.downtimeMs !== undefined ? { pveDowntimeMs: parsed.downtimeMs } : {}),
          ...(report.observedDowntimeMs !== undefined
            ? { observedDowntimeMs: report.observedDowntimeMs }
            : {}),
          ...(truth?.totalTimeMs !== undefined ? { migrationTimeMs: truth.totalTimeMs } : {}),
          ...(truth?.transferredBytes !== undefined ? { transferredBytes: truth.transferredBytes } : {}),
        });
      }
      const downtime = stats(perRun.map((r) => r.pveDowntimeMs));
      const observed = stats(perRun.map((r) => r.observedDowntimeMs));
      const time = stats(perRun.map((r) => r.migrationTimeMs));
      const data = stats(perRun.map((r) => r.transferredBytes));
      const memoryBytes = memoryMiB * 1024 * 1024;
      results[w.workload] = {
        runs: perRun,
        qemuDowntimeMs: downtime,
        observedDowntimeMs: observed,
        observedMinusQemuMs: stats(
          perRun.map((r) =>
            r.observedDowntimeMs !== undefined && r.pveDowntimeMs !== undefined
              ? r.observedDowntimeMs - r.pveDowntimeMs
              : undefined,
          ),
        ),
        migrationTimeMs: time,
        transferredMiB: data && {
          ...data,
          min: (data.min ?? 0) / 2 ** 20,
          median: data.median / 2 ** 20,
          max: (data.max ?? 0) / 2 ** 20,
        },
        grades: {
          migrationTime: time ? grade(time.median, DEFAULT_GRADING.migrationTime) : null,
          downtime: observed ? grade(observed.median, DEFAULT_GRADING.downtime) : null,
          data: data ? grade(data.median / memoryBytes, DEFAULT_GRADING.data) : null,
        },
      };
    }
  } finally {
    await pve.close();
    await lab.close();
  }
  return {
    available: true,
    qemuVersion: availability.manifest.qemuVersion,
    method,
    runsPerWorkload: runs,
    guestMemoryMiB: memoryMiB,
    bootMs,
    workloads: results,
  };
}
