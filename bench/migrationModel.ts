/**
 * The pre-copy model's calibrated figures (4 GiB guests, each workload, 1 and 10 Gbit/s) and how fast
 * the model and the task-log writer evaluate.
 */
import { performance } from "node:perf_hooks";
import {
  LINK_1GBIT_BYTES_PER_SECOND,
  LINK_10GBIT_BYTES_PER_SECOND,
  type MigrationInput,
  simulateMigration,
  WORKLOADS,
} from "../lab/migrationModel.ts";
import { renderMigrationTaskLog } from "../lab/taskLogWriter.ts";
import type { Benchmark } from "./run.ts";

const GiB = 1024 ** 3;
const MEMORY = 4 * GiB;
const LINKS = { "1gbit": LINK_1GBIT_BYTES_PER_SECOND, "10gbit": LINK_10GBIT_BYTES_PER_SECOND } as const;

function timePerCall(calls: number, run: (i: number) => void): { calls: number; microsPerCall: number } {
  for (let i = 0; i < Math.min(50, calls); i++) run(i);
  const start = performance.now();
  for (let i = 0; i < calls; i++) run(i);
  return { calls, microsPerCall: Number((((performance.now() - start) * 1000) / calls).toFixed(1)) };
}

const bench: Benchmark = async () => {
  const figures: Record<string, Record<string, unknown>> = {};
  for (const [link, bandwidth] of Object.entries(LINKS)) {
    for (const workload of Object.values(WORKLOADS)) {
      const o = simulateMigration({ memoryBytes: MEMORY, workload, bandwidthBytesPerSecond: bandwidth });
      figures[`${workload.name}@${link}`] = {
        rounds: o.rounds,
        converged: o.converged,
        migrationTimeMs: o.totalTimeMs,
        ramPhaseMs: o.ramPhaseMs,
        downtimeMs: o.downtimeMs,
        clientOutageMs: o.clientOutageMs,
        transferredBytes: o.transferredBytes,
        transferredGiB: Number((o.transferredBytes / GiB).toFixed(2)),
        finalDowntimeLimitMs: o.finalDowntimeLimitMs,
        autoIncreases: o.downtimeIncreases.length,
        throttlePercent: o.throttlePercent,
        progressLines: o.progress.length,
      };
    }
  }

  const inputs: MigrationInput[] = [];
  for (const bandwidth of Object.values(LINKS)) {
    for (const workload of Object.values(WORKLOADS)) {
      inputs.push({ memoryBytes: MEMORY, workload, bandwidthBytesPerSecond: bandwidth });
    }
  }
  const pick = (i: number) => ({ ...(inputs[i % inputs.length] as MigrationInput), seed: i });
  const model = timePerCall(3000, (i) => simulateMigration(pick(i)));
  const slowest = timePerCall(300, (i) =>
    simulateMigration({
      memoryBytes: 32 * GiB,
      workload: WORKLOADS.game,
      bandwidthBytesPerSecond: 50 * 1024 ** 2,
      seed: i,
    }),
  );
  const outcome = simulateMigration({
    memoryBytes: MEMORY,
    workload: WORKLOADS.game,
    bandwidthBytesPerSecond: LINK_1GBIT_BYTES_PER_SECOND,
  });
  const writer = timePerCall(3000, (i) =>
    renderMigrationTaskLog({
      result: "ok",
      outcome,
      vmid: 100 + i,
      targetNode: "node2",
      targetAddress: "10.0.0.2",
      startedAt: new Date(1_750_000_000_000 + i * 1000),
      memoryBytes: MEMORY,
    }),
  );

  return {
    memoryBytes: MEMORY,
    bandwidthBytesPerSecond: LINKS,
    figures,
    speed: {
      simulateMigration4GiB: model,
      simulateMigration32GiBGameAt50MiBps: slowest,
      renderMigrationTaskLogGame1Gbit: {
        ...writer,
        lines: renderMigrationTaskLog({
          result: "ok",
          outcome,
          vmid: 100,
          targetNode: "node2",
          targetAddress: "10.0.0.2",
          startedAt: new Date(0),
          memoryBytes: MEMORY,
        }).lines.length,
      },
    },
  };
};

export default bench;
