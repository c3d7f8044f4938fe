/**
 * Planning a return: the guests an evacuation moved go back to their node, each checked again with the
 * planner (capacity, storages, HA rules, PVE's own reasons). Guests now sit on several nodes, so the
 * planner runs once per node they sit on, each run seeing the memory earlier runs already claimed on
 * the node returned to. Pure.
 */
import type { MigrationPolicy } from "../config/schema.ts";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import type { ClusterView } from "../planning/clusterView.ts";
import { reservedBytes } from "../planning/constraints.ts";
import { type PlannedMove, planEvacuation } from "../planning/plan.ts";
import type { PendingMove } from "./pendingPlans.ts";
import { moveView, type PlanView } from "./planView.ts";

export interface ReturnRequest {
  node: string;
  /** What the evacuation moved: VM and the node it was moved to. */
  moved: readonly { vmid: number; name: string; movedTo: string }[];
}

export interface ReturnPlan {
  view: PlanView;
  groups: { source: string; moves: PendingMove[] }[];
}

export function planReturn(view: ClusterView, req: ReturnRequest, policy: MigrationPolicy): ReturnPlan {
  const home = view.nodes.find((n) => n.name === req.node);
  if (!home)
    throw new UserError(
      ErrorCodes.UnknownNode,
      `Unknown node '${req.node}'. Known nodes: ${view.nodes.map((n) => n.name).join(", ")}.`,
    );
  const out: PlanView = { kind: "return", node: req.node, moves: [], blocked: [], skipped: [] };
  const bySource = new Map<string, number[]>();
  for (const m of req.moved) {
    const g = view.guests.find((x) => x.vmid === m.vmid);
    if (!g) out.skipped.push({ vmid: m.vmid, name: m.name, reason: "no longer in the cluster" });
    else if (g.node === req.node)
      out.skipped.push({ vmid: m.vmid, name: g.name, reason: `already on ${req.node}` });
    else {
      // A guest moved on since the evacuation comes back from where it is now.
      const list = bySource.get(g.node) ?? [];
      list.push(g.vmid);
      bySource.set(g.node, list);
    }
  }
  const groups: ReturnPlan["groups"] = [];
  let claimed = 0;
  const all: PlannedMove[] = [];
  for (const [source, vmids] of [...bySource.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const sub: ClusterView = {
      ...view,
      nodes: view.nodes.map((n) =>
        n.name === req.node ? { ...n, memoryFreeBytes: Math.max(0, n.memoryFreeBytes - claimed) } : n,
      ),
      guests: view.guests.filter((g) => g.node !== source || vmids.includes(g.vmid)),
    };
    const plan = planEvacuation(
      sub,
      { source, target: req.node, includeStopped: true, includeContainers: true },
      policy,
    );
    for (const m of plan.moves) claimed += reservedBytes(m.memoryBytes, m.mode);
    all.push(...plan.moves);
    out.blocked.push(...plan.blocked.map((b) => ({ vmid: b.vmid, name: b.name, reasons: b.reasons })));
    out.skipped.push(...plan.skipped.map((s) => ({ vmid: s.vmid, name: s.name, reason: s.reason })));
    if (plan.moves.length > 0)
      groups.push({
        source,
        moves: plan.moves.map((m) => ({
          vmid: m.vmid,
          name: m.name,
          type: m.type,
          target: m.target,
          memoryBytes: m.memoryBytes,
          mode: m.mode,
          withLocalDisks: m.withLocalDisks,
        })),
      });
  }
  out.moves = all.map(moveView);
  out.targets = [
    {
      node: req.node,
      memoryFreeBytes: home.memoryFreeBytes,
      memoryFreeAfterBytes: Math.max(0, home.memoryFreeBytes - claimed),
      moves: all.length,
    },
  ];
  return { view: out, groups };
}
