import { describe, expect, it } from "vitest";
import { createMetrics, recordMigrationResult } from "./metrics.ts";
import { fakeResult } from "./testFixtures.ts";

describe("metrics", () => {
  it("renders the series after one recorded result", async () => {
    const m = createMetrics();
    recordMigrationResult(m, fakeResult());
    recordMigrationResult(
      m,
      fakeResult({
        status: "failed",
        pve: { status: "aborted" },
        qos: { measured: false, reason: "no address" },
      }),
    );
    const text = await m.registry.metrics();
    expect(text).toContain('pve_evacuate_migrations_total{status="succeeded"} 1');
    expect(text).toContain('pve_evacuate_migrations_total{status="failed"} 1');
    expect(text).toContain('pve_evacuate_migrations_total{status="blocked"} 0');
    expect(text).toContain('pve_evacuate_migration_pve_downtime_seconds_bucket{le="0.1"} 1');
    expect(text).toContain('pve_evacuate_migration_pve_downtime_seconds_bucket{le="0.05"} 0');
    expect(text).toContain("pve_evacuate_migration_pve_downtime_seconds_sum 0.087");
    expect(text).toContain('pve_evacuate_migration_observed_downtime_seconds_bucket{le="0.3"} 1');
    expect(text).toContain('pve_evacuate_migration_observed_downtime_seconds_bucket{le="0.2"} 0');
    expect(text).toContain("pve_evacuate_migration_duration_seconds_count 1");
    expect(text).toContain("pve_evacuate_migration_transferred_bytes_total 4500000000");
    expect(text).toContain('pve_evacuate_qos_grades_total{metric="downtime",grade="good"} 1');
    expect(text).toContain('pve_evacuate_qos_grades_total{metric="loss",grade="veryGood"} 1');
    expect(text).not.toContain('metric="data"');
  });

  it("reads queue depth and running evacuations on scrape, and survives a failing read", async () => {
    let depth = 3;
    const errors: string[] = [];
    const m = createMetrics(
      {
        queueCounts: async () => ({ waiting: depth, active: 1 }),
        runningEvacuations: async () => {
          throw new Error("redis down");
        },
      },
      { onCollectError: (metric) => errors.push(metric) },
    );
    expect(await m.registry.metrics()).toContain('pve_evacuate_queue_jobs{state="waiting"} 3');
    depth = 0;
    const text = await m.registry.metrics();
    expect(text).toContain('pve_evacuate_queue_jobs{state="waiting"} 0');
    expect(text).toContain('pve_evacuate_queue_jobs{state="active"} 1');
    expect(text).toContain('pve_evacuate_queue_jobs{state="delayed"} 0');
    // prom-client writes "Nan"; Prometheus parses NaN case-insensitively.
    expect(text).toMatch(/^pve_evacuate_evacuations_running nan$/im);
    expect(errors).toContain("evacuations_running");
  });

  it("adds process metrics only when asked", async () => {
    expect(await createMetrics().registry.metrics()).not.toContain("process_cpu");
    expect(await createMetrics({}, { processMetrics: true }).registry.metrics()).toContain(
      "pve_evacuate_process_cpu_seconds_total",
    );
  });
});
