/**
 * Binds the pure planning and parsing code to the shapes the migration runner asks for.
 */
import type { MigrationPolicy } from "../config/schema.ts";
import { gatherClusterData } from "../planning/clusterData.ts";
import { buildClusterView } from "../planning/clusterView.ts";
import { preCheck } from "../planning/preChecks.ts";
import type { PveClient } from "../proxmox/port.ts";
import { parseTaskLog } from "../proxmox/taskLog.ts";
import type { MigrationJobData } from "./jobData.ts";
import type { PreCheckItem, TaskFigures } from "./migrateVm.ts";

/** Pre-checks against fresh data: only this VM's config and precondition are fetched. */
export function preCheckPort(pve: PveClient, policy: MigrationPolicy) {
  return async (job: MigrationJobData): Promise<PreCheckItem[]> => {
    const data = await gatherClusterData(pve, { vmids: [job.vmid], nodes: [job.source, job.target] });
    const checklist = preCheck(buildClusterView(data), job, policy);
    return checklist.items;
  };
}

export function taskFigures(lines: string[], ctx: { upid: string }): TaskFigures {
  const r = parseTaskLog(lines, { upid: ctx.upid });
  return {
    status: r.status,
    durationMs: r.durationMs,
    downtimeMs: r.downtimeMs,
    transferredBytes: r.transferredBytes,
    totalBytes: r.totalBytes,
    averageSpeedBytesPerSecond: r.averageSpeedBytesPerSecond,
    error: r.error,
  };
}
