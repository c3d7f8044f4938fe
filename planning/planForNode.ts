/**
 * Gather what a plan needs for one source node and plan it: the one call the CLI and the chat
 * commands share. The only I/O is through the PveClient port.
 */
import type { MigrationPolicy } from "../config/schema.ts";
import type { PveClient } from "../proxmox/port.ts";
import { gatherClusterData } from "./clusterData.ts";
import { buildClusterView } from "./clusterView.ts";
import { type Plan, type PlanRequest, planEvacuation } from "./plan.ts";

export async function planForNode(
  pve: PveClient,
  request: PlanRequest,
  policy: MigrationPolicy,
): Promise<Plan> {
  const data = await gatherClusterData(pve, { guestsOn: request.source });
  return planEvacuation(buildClusterView(data), request, policy);
}
