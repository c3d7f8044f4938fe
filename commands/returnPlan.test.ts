import { describe, expect, it } from "vitest";
import { MigrationPolicy } from "../config/schema.ts";
import { ErrorCodes } from "../lib/errors.ts";
import { buildClusterView } from "../planning/clusterView.ts";
import { buildClusterData, type NodeSpec } from "../planning/fixtures/build.ts";
import { planReturn } from "./returnPlan.ts";

const policy = MigrationPolicy.parse({ headroomBytes: 0 });
const GiB = 1024 ** 3;

function viewWith(node1: Partial<NodeSpec> = {}) {
  return buildClusterView(
    buildClusterData({
      nodes: [
        { name: "node1", memGiB: 16, usedGiB: 4, ...node1 },
        { name: "node2", memGiB: 64, usedGiB: 10 },
        { name: "node3", memGiB: 64, usedGiB: 10 },
      ],
      guests: [
        { vmid: 101, node: "node2", name: "web", memMiB: 4096 },
        { vmid: 102, node: "node3", name: "db", memMiB: 6144 },
        { vmid: 103, node: "node1", name: "back", memMiB: 1024 },
        { vmid: 105, node: "node3", name: "moved-on", memMiB: 1024 },
      ],
    }),
  );
}

const moved = [
  { vmid: 101, name: "web", movedTo: "node2" },
  { vmid: 102, name: "db", movedTo: "node3" },
  { vmid: 103, name: "back", movedTo: "node2" },
  { vmid: 104, name: "gone", movedTo: "node2" },
  { vmid: 105, name: "moved-on", movedTo: "node2" },
];

describe("planReturn", () => {
  it("brings moved VMs back from wherever they are now, one evacuation per node they sit on", () => {
    const plan = planReturn(viewWith(), { node: "node1", moved }, policy);
    expect(plan.view.moves.map((m) => [m.vmid, m.source, m.target])).toEqual([
      [101, "node2", "node1"],
      [105, "node3", "node1"],
      [102, "node3", "node1"],
    ]);
    expect(plan.groups.map((g) => [g.source, g.moves.map((m) => m.vmid)])).toEqual([
      ["node2", [101]],
      ["node3", [105, 102]],
    ]);
    expect(plan.view.skipped).toEqual([
      { vmid: 103, name: "back", reason: "already on node1" },
      { vmid: 104, name: "gone", reason: "no longer in the cluster" },
    ]);
    expect(plan.view.targets?.[0]).toMatchObject({ node: "node1", moves: 3 });
  });

  it("counts what earlier groups claimed on the node: what no longer fits is blocked, with the reason", () => {
    // 8 GiB free: web (4 GiB, from node2) fits first, then moved-on (1 GiB); db (6 GiB) no longer does.
    const plan = planReturn(viewWith({ usedGiB: 8 }), { node: "node1", moved }, policy);
    expect(plan.view.moves.map((m) => m.vmid)).toEqual([101, 105]);
    expect(plan.view.blocked).toEqual([
      {
        vmid: 102,
        name: "db",
        reasons: [expect.stringMatching(/^forced target node1 .*: not enough memory/)],
      },
    ]);
    expect(plan.view.targets?.[0]?.memoryFreeAfterBytes).toBe(3 * GiB);
  });

  it("blocks everything while the node is still in maintenance, and refuses an unknown node", () => {
    const plan = planReturn(viewWith({ maintenance: true }), { node: "node1", moved }, policy);
    expect(plan.groups).toEqual([]);
    expect(plan.view.blocked.map((b) => b.vmid)).toEqual([101, 102, 105]);
    expect(plan.view.blocked[0]?.reasons[0]).toMatch(/maintenance/);
    expect(() => planReturn(viewWith(), { node: "node9", moved }, policy)).toThrow(
      expect.objectContaining({ code: ErrorCodes.UnknownNode }),
    );
  });
});
