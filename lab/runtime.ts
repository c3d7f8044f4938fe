/**
 * Everything a running lab holds, handed to route handlers and the migration driver: the cluster state,
 * tasks, faults, timers, the VMs' responders and the ground truth of each migration.
 */
import type { LabCluster } from "./cluster.ts";
import type { FaultController } from "./faults.ts";
import type { QemuMigrationBackend } from "./qemu/backend.ts";
import type { Responder } from "./responder.ts";
import type { Scheduler } from "./scheduler.ts";
import type { TaskRegistry } from "./tasks.ts";

/** What really happened in one migration, next to what PVE reported (contract: lab-api.md). */
export interface LabMigrationTruth {
  upid: string;
  vmid: number;
  source: string;
  target: string;
  status: "running" | "ok" | "failed";
  /** What the task log reports (QEMU's downtime). */
  pveDowntimeMs?: number;
  /** How long the responder was really silent. */
  clientOutageMs?: number;
  /** Date.now() when the responder went silent. */
  outageStartEpochMs?: number;
  outageEndEpochMs?: number;
  transferredBytes?: number;
  totalTimeMs?: number;
  /** Wall clock (Date.now()) when the PVE task started and ended: what orchestration overhead is measured against. */
  taskStartEpochMs?: number;
  taskEndEpochMs?: number;
  workload: string;
}

export interface LabRuntime {
  cluster: LabCluster;
  tasks: TaskRegistry;
  faults: FaultController;
  scheduler: Scheduler;
  /** One per running qemu VM, by VMID. */
  responders: Map<number, Responder>;
  truths: LabMigrationTruth[];
  /** >1 compresses the bulk phases of a migration; the client outage always runs in real time. */
  timeScale: number;
  /** Migration network throughput before any bwlimit. */
  bandwidthBytesPerSecond: number;
  /** How long the HA CRM takes to act on a request, in model ms (scaled like the bulk phases). */
  haCrmDelayMs: number;
  /** The node pveproxy answers on (the one the client connects to). */
  localNode: string;
  /** `lab --qemu`: real QEMU guests, migrated for real instead of by the model. */
  qemu?: QemuMigrationBackend;
}
