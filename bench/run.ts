/**
 * `npm run bench`: runs every benchmark and prints one JSON document
 * `{ machine, benchmarks: { name: result } }`. Pass names to run a subset.
 */
import os from "node:os";

export type Benchmark = () => Promise<Record<string, unknown>>;

/** Explicit registry: name → module that default-exports a Benchmark. */
const registry: Record<string, () => Promise<{ default: Benchmark }>> = {
  migrationModel: () => import("./migrationModel.ts"),
  plan: () => import("./plan.ts"),
  qos: () => import("./qos.ts"),
  qemu: () => import("./qemu.ts"),
  worker: () => import("./worker.ts"),
  botAck: () => import("./botAck.ts"),
};

const wanted = process.argv.slice(2);
const results: Record<string, unknown> = {};
for (const [name, load] of Object.entries(registry)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  const { default: bench } = await load();
  results[name] = await bench();
}
process.stdout.write(
  `${JSON.stringify(
    {
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version },
      benchmarks: results,
    },
    null,
    2,
  )}\n`,
);
