import { describe, expect, it } from "vitest";
import { MigrationPolicy } from "../config/schema.ts";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import { buildClusterView } from "./clusterView.ts";
import { buildClusterData, type ClusterSpec, type GuestSpec } from "./fixtures/build.ts";
import { type PlanRequest, planEvacuation } from "./plan.ts";

const GiB = 1024 ** 3;
const policy = MigrationPolicy.parse({});

const nodes: ClusterSpec["nodes"] = [
  { name: "node1", memGiB: 64, usedGiB: 40 },
  { name: "node2", memGiB: 64, usedGiB: 40 },
  { name: "node3", memGiB: 64, usedGiB: 10 },
  { name: "node4", memGiB: 64, usedGiB: 0, maintenance: true },
  { name: "node5", memGiB: 64, online: false },
];

const guests: GuestSpec[] = [
  { vmid: 101, node: "node1", name: "web", memMiB: 2048 },
  { vmid: 102, node: "node1", name: "db", memMiB: 16384 },
  { vmid: 103, node: "node1", name: "old", memMiB: 4096, status: "stopped" },
  { vmid: 104, node: "node1", name: "tpl", memMiB: 2048, status: "stopped", template: true },
  { vmid: 105, node: "node1", name: "ct", type: "lxc", memMiB: 1024 },
  { vmid: 106, node: "node1", name: "gpu", memMiB: 8192, extraConfig: { hostpci0: "0000:01:00.0,pcie=1" } },
  {
    vmid: 107,
    node: "node1",
    name: "local",
    memMiB: 1024,
    disks: { scsi0: "local-lvm:vm-107-disk-0,size=8G" },
  },
  { vmid: 108, node: "node1", name: "pinned", memMiB: 1024, tags: ["Pinned", "prod"] },
  { vmid: 109, node: "node1", name: "huge", memMiB: 200 * 1024 },
  { vmid: 201, node: "node2", name: "other", memMiB: 1024 },
];

function plan(spec: Partial<ClusterSpec> = {}, request: Partial<PlanRequest> = {}, p = policy) {
  const data = buildClusterData({ nodes, guests, ...spec });
  return planEvacuation(buildClusterView(data), { source: "node1", ...request }, p);
}

describe("planEvacuation", () => {
  it("moves running VMs live to the node with most free memory, smallest first", () => {
    const p = plan();
    expect(p.moves.map((m) => [m.vmid, m.target, m.mode, m.order])).toEqual([
      [101, "node3", "live", 1],
      [102, "node3", "live", 2],
    ]);
    expect(p.moves[0]).toMatchObject({ name: "web", type: "qemu", source: "node1", memoryBytes: 2 * GiB });
  });

  it("leaves stopped VMs, templates, containers and pinned guests, saying why", () => {
    const p = plan();
    expect(p.skipped.map((s) => s.vmid)).toEqual([103, 104, 105, 108]);
    expect(p.skipped.find((s) => s.vmid === 103)?.reason).toMatch(/--include-stopped/);
    expect(p.skipped.find((s) => s.vmid === 105)?.reason).toMatch(/--include-containers/);
    expect(p.skipped.find((s) => s.vmid === 108)?.reason).toMatch(/tagged 'pinned'/);
  });

  it("blocks with reasons a person can act on", () => {
    const p = plan();
    const reasons = Object.fromEntries(p.blocked.map((b) => [b.vmid, b.reasons.join(" | ")]));
    expect(Object.keys(reasons).map(Number)).toEqual([106, 107, 109]);
    expect(reasons[106]).toMatch(/local resource hostpci0 ties it to node1/);
    expect(reasons[107]).toMatch(
      /local disk local-lvm:vm-107-disk-0 \(8\.0 GiB\).*MIGRATION_WITH_LOCAL_DISKS/,
    );
    expect(reasons[109]).toMatch(/node2 \(24\.0 GiB free\), node3 \(54\.0 GiB free\): not enough memory/);
    expect(reasons[109]).toMatch(/needs 200\.0 GiB \+ 1\.0 GiB headroom/);
    expect(reasons[109]).toMatch(/node4: in maintenance/);
    expect(reasons[109]).toMatch(/node5: offline/);
  });

  it("summarises targets with free memory before and after", () => {
    const p = plan();
    expect(p.targets).toEqual([
      { node: "node2", memoryFreeBytes: 24 * GiB, memoryFreeAfterBytes: 24 * GiB, moves: 0 },
      { node: "node3", memoryFreeBytes: 54 * GiB, memoryFreeAfterBytes: 36 * GiB, moves: 2 },
      expect.objectContaining({ node: "node4", unavailable: expect.stringMatching(/maintenance/) }),
      expect.objectContaining({ node: "node5", unavailable: "offline" }),
    ]);
  });

  it("spreads: once the most-free node fills up, the next one is used", () => {
    const p = plan({
      guests: [11, 12, 13, 14].map((i) => ({ vmid: 300 + i, node: "node1", memMiB: 14 * 1024 })),
    });
    // node3 54 GiB free, node2 24: node3 → 40, node3 → 26 (> 24), node3 → 12, then node2 (24 > 12).
    expect(p.moves.map((m) => m.target)).toEqual(["node3", "node3", "node3", "node2"]);
    for (const t of p.targets.filter((t) => t.moves > 0))
      expect(t.memoryFreeAfterBytes).toBeGreaterThanOrEqual(GiB);
  });

  it("spreads by free fraction on unequal nodes by default; most-free fills the biggest node first", () => {
    const spec: Partial<ClusterSpec> = {
      nodes: [
        { name: "node1", memGiB: 64, usedGiB: 60 },
        { name: "node2", memGiB: 256, usedGiB: 128 },
        { name: "node3", memGiB: 64, usedGiB: 32 },
      ],
      guests: [1, 2, 3, 4, 5].map((i) => ({ vmid: 400 + i, node: "node1", memMiB: 8 * 1024 })),
    };
    const count = (p: ReturnType<typeof plan>) => p.targets.map((t) => [t.node, t.moves]);
    expect(count(plan(spec))).toEqual([
      ["node2", 4],
      ["node3", 1],
    ]);
    expect(count(plan(spec, { spread: "most-free" }))).toEqual([
      ["node2", 5],
      ["node3", 0],
    ]);
  });

  it("moves stopped VMs and templates offline with --include-stopped, reserving no memory", () => {
    const p = plan({}, { includeStopped: true });
    const offline = p.moves.filter((m) => m.mode === "offline").map((m) => m.vmid);
    expect(offline).toEqual([103, 104]);
    expect(p.targets.find((t) => t.node === "node3")?.memoryFreeAfterBytes).toBe(36 * GiB);
    // Smallest first: offline moves transfer no memory, so they go first.
    expect(p.moves.slice(0, 2).map((m) => m.vmid)).toEqual([103, 104]);
  });

  it("moves containers with a restart and says they go down", () => {
    const p = plan({}, { includeContainers: true });
    const ct = p.moves.find((m) => m.vmid === 105);
    expect(ct).toMatchObject({ mode: "restart", type: "lxc" });
    expect(ct?.notes.join(" ")).toMatch(/shuts down on node1 and starts again/);
  });

  it("copies local disks when the policy allows it", () => {
    const p = plan({}, {}, { ...policy, withLocalDisks: true });
    expect(p.moves.find((m) => m.vmid === 107)).toMatchObject({ withLocalDisks: true, mode: "live" });
  });

  it("honours a forced target and refuses it per VM with the reason", () => {
    const p = plan({}, { target: "node2" });
    expect(p.moves.map((m) => [m.vmid, m.target])).toEqual([
      [101, "node2"],
      [102, "node2"],
    ]);
    expect(p.targets.find((t) => t.node === "node3")?.unavailable).toBe("not the forced target");
    const q = plan({}, { target: "node4" });
    expect(q.moves).toEqual([]);
    expect(q.blocked.find((b) => b.vmid === 101)?.reasons).toEqual([
      expect.stringMatching(/^forced target node4: in maintenance/),
    ]);
  });

  it("uses PVE's allowed nodes and repeats its reason", () => {
    const p = plan({
      nodes: nodes.map((n) => (n.name === "node3" ? { ...n, storages: ["ceph", "local"] } : n)),
      guests: [{ vmid: 120, node: "node1", memMiB: 1024, disks: { scsi0: "fast:vm-120-disk-0" } }],
      sharedStorages: ["ceph", "fast"],
    });
    expect(p.moves[0]?.target).toBe("node2");
    const q = plan({
      nodes: nodes.map((n) => (n.name === "node2" || n.name === "node3" ? { ...n, storages: ["ceph"] } : n)),
      guests: [{ vmid: 120, node: "node1", memMiB: 1024, disks: { scsi0: "fast:vm-120-disk-0" } }],
      sharedStorages: ["ceph", "fast"],
    });
    expect(q.blocked[0]?.reasons[0]).toBe("node2, node3: PVE refuses: storage fast not available there");
  });

  it("checks storages itself when PVE does not list allowed nodes (PVE < 8.4)", () => {
    const p = plan({
      nodes: nodes.map((n) => (n.name === "node3" ? { ...n, storages: ["ceph"] } : n)),
      guests: [
        {
          vmid: 120,
          node: "node1",
          memMiB: 1024,
          disks: { scsi0: "fast:vm-120-disk-0", ide2: "none,media=cdrom" },
          precondition: { allowed_nodes: undefined },
        },
      ],
      sharedStorages: ["ceph", "fast"],
    });
    expect(p.moves[0]?.target).toBe("node2");
  });

  it("keeps negative-affinity HA guests apart, also from members elsewhere", () => {
    const p = plan({
      nodes: [...nodes, { name: "node6", memGiB: 64, usedGiB: 20 }],
      guests: [
        { vmid: 110, node: "node1", memMiB: 1024, ha: "started" },
        { vmid: 111, node: "node1", memMiB: 2048, ha: "started" },
        { vmid: 112, node: "node1", memMiB: 4096, ha: "started" },
        { vmid: 210, node: "node3", memMiB: 1024, ha: "started" },
      ],
      rules: [
        {
          rule: "apart",
          type: "resource-affinity",
          affinity: "negative",
          resources: "vm:110,vm:111,vm:112,vm:210",
        },
      ],
    });
    const targets = p.moves.map((m) => m.target);
    expect(new Set(targets).size).toBe(targets.length);
    expect(targets).not.toContain("node3");
    expect(p.moves.map((m) => m.vmid)).toEqual([111, 112]);
    expect(p.blocked[0]?.vmid).toBe(110);
    expect(p.blocked[0]?.reasons.join(" ")).toMatch(/rule 'apart' keeps it apart from vm:210 on that node/);
  });

  it("joins positive-affinity partners and moves source members together", () => {
    const p = plan({
      guests: [
        { vmid: 110, node: "node1", memMiB: 1024, ha: "started" },
        { vmid: 111, node: "node1", memMiB: 2048, ha: "started" },
        { vmid: 210, node: "node2", memMiB: 1024, ha: "started" },
        { vmid: 120, node: "node1", memMiB: 1024, ha: "started" },
        { vmid: 121, node: "node1", memMiB: 1024, ha: "started" },
      ],
      rules: [
        { rule: "with-210", type: "resource-affinity", affinity: "positive", resources: "vm:110,vm:210" },
        { rule: "pair", type: "resource-affinity", affinity: "positive", resources: "vm:120,vm:121" },
      ],
    });
    const target = Object.fromEntries(p.moves.map((m) => [m.vmid, m.target]));
    expect(target[110]).toBe("node2");
    expect(target[120]).toBe(target[121]);
    const order = p.moves.map((m) => m.vmid);
    expect(Math.abs(order.indexOf(120) - order.indexOf(121))).toBe(1);
  });

  it("blocks guests bound by contradicting HA rules instead of breaking one of them", () => {
    const p = plan({
      guests: [
        { vmid: 110, node: "node1", memMiB: 1024, ha: "started" },
        { vmid: 111, node: "node1", memMiB: 1024, ha: "started" },
      ],
      rules: [
        { rule: "together", type: "resource-affinity", affinity: "positive", resources: "vm:110,vm:111" },
        { rule: "apart", type: "resource-affinity", affinity: "negative", resources: "vm:110,vm:111" },
      ],
    });
    expect(p.moves).toEqual([]);
    expect(p.blocked.map((b) => b.reasons[0])).toEqual([
      expect.stringMatching(/HA rules contradict each other.*'apart'/),
      expect.stringMatching(/HA rules contradict each other.*'apart'/),
    ]);
  });

  it("follows HA node-affinity: strict restricts, priorities prefer", () => {
    const p = plan({
      guests: [
        { vmid: 110, node: "node1", memMiB: 1024, ha: "started" },
        { vmid: 111, node: "node1", memMiB: 1024, ha: "started" },
        { vmid: 112, node: "node1", memMiB: 1024, ha: "started" },
      ],
      rules: [
        { rule: "only2", type: "node-affinity", resources: "vm:110", nodes: "node1,node2", strict: true },
        {
          rule: "prefer2",
          type: "node-affinity",
          resources: "vm:111",
          nodes: "node2:2,node3:1",
          strict: false,
        },
        {
          rule: "prefer-off",
          type: "node-affinity",
          resources: "vm:112",
          nodes: "node4:5,node2",
          disable: true,
        },
      ],
    });
    const target = Object.fromEntries(p.moves.map((m) => [m.vmid, m.target]));
    expect(target).toEqual({ 110: "node2", 111: "node2", 112: "node3" });
    expect(p.moves.find((m) => m.vmid === 110)?.notes.join(" ")).toMatch(/HA resource vm:110/);
  });

  it("refuses unknown, offline and empty sources, and bad targets", () => {
    const fail = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e as UserError;
      }
      throw new Error("expected a UserError");
    };
    const unknown = fail(() => plan({}, { source: "nodeX" }));
    expect(unknown).toBeInstanceOf(UserError);
    expect(unknown.code).toBe(ErrorCodes.UnknownNode);
    expect(unknown.message).toBe("Unknown node 'nodeX'. Known nodes: node1, node2, node3, node4, node5.");
    expect(fail(() => plan({}, { source: "node5" })).code).toBe(ErrorCodes.NodeOffline);
    expect(fail(() => plan({}, { source: "node3" })).code).toBe(ErrorCodes.NothingToEvacuate);
    expect(fail(() => plan({}, { target: "nodeY" })).code).toBe(ErrorCodes.UnknownNode);
    expect(fail(() => plan({}, { target: "node1" })).code).toBe(ErrorCodes.InvalidInput);
  });

  it("is a valid plan when everything is blocked", () => {
    const p = plan({ guests: [{ vmid: 109, node: "node1", memMiB: 200 * 1024 }] });
    expect(p.moves).toEqual([]);
    expect(p.blocked).toHaveLength(1);
  });

  it("orders by the policy", () => {
    const g = [
      { vmid: 130, node: "node1", memMiB: 4096 },
      { vmid: 131, node: "node1", memMiB: 1024 },
      { vmid: 129, node: "node1", memMiB: 2048 },
    ];
    const order = (o: MigrationPolicy["order"]) =>
      plan({ guests: g }, {}, { ...policy, order: o }).moves.map((m) => m.vmid);
    expect(order("smallest-first")).toEqual([131, 129, 130]);
    expect(order("largest-first")).toEqual([130, 129, 131]);
    expect(order("vmid")).toEqual([129, 130, 131]);
  });

  it("notes a lock but still plans the move (the pre-check decides)", () => {
    const p = plan({ guests: [{ vmid: 140, node: "node1", memMiB: 1024, lock: "backup" }] });
    expect(p.moves[0]?.notes.join(" ")).toMatch(/locked \('backup'\)/);
  });

  it("blocks a paused VM and an HA resource in error state", () => {
    const p = plan({
      guests: [
        { vmid: 150, node: "node1", memMiB: 1024, status: "paused" },
        { vmid: 151, node: "node1", memMiB: 1024, ha: "error" },
      ],
    });
    expect(p.blocked.map((b) => b.vmid)).toEqual([150, 151]);
    expect(p.blocked[1]?.reasons[0]).toMatch(/HA resource vm:151 is in state 'error'/);
  });
});
