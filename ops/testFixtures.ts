/** Test data shared by the ops tests. */
import type { MigrationResult } from "../worker/migrateVm.ts";

export function fakeResult(overrides: Partial<MigrationResult> = {}): MigrationResult {
  return {
    vmid: 101,
    name: "web1",
    source: "node1",
    target: "node2",
    status: "succeeded",
    upid: "UPID:node1:0000A1B2:0012C3D4:67890ABC:qmigrate:101:evacuate@pve!lab:",
    pve: { status: "completed", durationMs: 42_000, downtimeMs: 87, transferredBytes: 4_500_000_000 },
    qos: {
      measured: true,
      method: "tcp",
      address: "10.0.0.5",
      observedDowntimeMs: 240,
      report: {
        grades: {
          downtime: { value: 240, unit: "ms", grade: "good", label: "good", basis: "longest outage" },
          loss: { value: 1.2, unit: "%", grade: "veryGood", label: "very good", basis: "lost probes" },
          data: { value: 1.3, unit: "x", grade: "not-a-grade" },
        },
      },
    },
    ...overrides,
  };
}
