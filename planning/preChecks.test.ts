import { describe, expect, it } from "vitest";
import { MigrationPolicy } from "../config/schema.ts";
import { buildClusterView } from "./clusterView.ts";
import { buildClusterData, type ClusterSpec, type GuestSpec } from "./fixtures/build.ts";
import { type MoveToCheck, preCheck } from "./preChecks.ts";

const GiB = 1024 ** 3;
const policy = MigrationPolicy.parse({});

const nodes: ClusterSpec["nodes"] = [
  { name: "node1", memGiB: 32, usedGiB: 8 },
  { name: "node2", memGiB: 32, usedGiB: 8 },
  { name: "node3", memGiB: 32, usedGiB: 8, maintenance: true },
];
const vm: GuestSpec = { vmid: 101, node: "node1", memMiB: 4096 };
const move: MoveToCheck = {
  vmid: 101,
  type: "qemu",
  source: "node1",
  target: "node2",
  mode: "live",
  memoryBytes: 4 * GiB,
};

function check(spec: Partial<ClusterSpec> = {}, m: Partial<MoveToCheck> = {}, p = policy) {
  const view = buildClusterView(buildClusterData({ nodes, guests: [vm], ...spec }));
  return preCheck(view, { ...move, ...m }, p);
}

const statusOf = (list: ReturnType<typeof check>) =>
  Object.fromEntries(list.items.map((i) => [i.name, i.status]));

describe("preCheck", () => {
  it("passes every item when all is well", () => {
    const c = check();
    expect(c.ok).toBe(true);
    expect(statusOf(c)).toEqual({
      "cluster-quorate": "pass",
      "target-online": "pass",
      "guest-on-source": "pass",
      "guest-state": "pass",
      "not-locked": "pass",
      "guest-movable": "pass",
      "target-fits": "pass",
      "target-storage": "pass",
      precondition: "pass",
      "ha-affinity": "pass",
    });
    expect(c.items.find((i) => i.name === "target-fits")?.reason).toBe(
      "24.0 GiB free, needs 4.0 GiB + 1.0 GiB headroom",
    );
  });

  it("fails when the VM left the source, stopped or got locked", () => {
    expect(statusOf(check({ guests: [{ ...vm, node: "node2" }] }))["guest-on-source"]).toBe("fail");
    expect(
      check({ guests: [{ ...vm, node: "node2" }] }).items.find((i) => i.name === "guest-on-source")?.reason,
    ).toMatch(/already on node2/);
    expect(statusOf(check({ guests: [{ ...vm, status: "stopped" }] }))["guest-state"]).toBe("fail");
    const locked = check({ guests: [{ ...vm, lock: "backup" }] });
    expect(locked.ok).toBe(false);
    expect(locked.items.find((i) => i.name === "not-locked")?.reason).toMatch(
      /locked \('backup'\).*qm unlock 101/,
    );
  });

  it("fails on a vanished guest without further guest checks", () => {
    const c = check({ guests: [] });
    expect(c.ok).toBe(false);
    expect(c.items.map((i) => i.name)).toEqual(["cluster-quorate", "target-online", "guest-on-source"]);
  });

  it("fails when the target is offline, in maintenance or the cluster is not quorate", () => {
    expect(statusOf(check({}, { target: "node3" }))["target-online"]).toBe("fail");
    expect(check({}, { target: "node3" }).items.find((i) => i.name === "target-online")?.reason).toMatch(
      /node3 is in maintenance/,
    );
    const offline = check({ nodes: nodes.map((n) => (n.name === "node2" ? { ...n, online: false } : n)) });
    expect(statusOf(offline)["target-online"]).toBe("fail");
    expect(statusOf(check({ quorate: false }))["cluster-quorate"]).toBe("fail");
    expect(statusOf(check({}, { target: "node9" }))["target-online"]).toBe("fail");
  });

  it("fits: pass with headroom, warn inside the headroom, fail beyond", () => {
    const at = (usedGiB: number) =>
      statusOf(check({ nodes: nodes.map((n) => (n.name === "node2" ? { ...n, usedGiB } : n)) }))[
        "target-fits"
      ];
    expect(at(27)).toBe("pass");
    expect(at(27.5)).toBe("warn");
    expect(at(29)).toBe("fail");
    const stopped = check({ guests: [{ ...vm, status: "stopped" }] }, { mode: "offline" });
    expect(statusOf(stopped)["target-fits"]).toBe("pass");
  });

  it("fails when PVE no longer allows the target, with PVE's reason", () => {
    const c = check({
      nodes: nodes.map((n) => (n.name === "node2" ? { ...n, storages: ["local"] } : n)),
    });
    expect(c.ok).toBe(false);
    expect(c.items.find((i) => i.name === "precondition")?.reason).toBe(
      "PVE refuses node2: storage ceph not available there",
    );
    expect(statusOf(c)["target-storage"]).toBe("fail");
  });

  it("warns when PVE did not list allowed nodes", () => {
    const c = check({ guests: [{ ...vm, precondition: { allowed_nodes: undefined } }] });
    expect(c.ok).toBe(true);
    expect(statusOf(c).precondition).toBe("warn");
  });

  it("fails on local disks that appeared since planning, and on new passthrough", () => {
    const disk = check(
      { guests: [{ ...vm, disks: { scsi0: "local-lvm:vm-101-disk-0" } }] },
      {},
      {
        ...policy,
        withLocalDisks: true,
      },
    );
    expect(disk.items.find((i) => i.name === "guest-movable")?.reason).toMatch(/plan did not expect/);
    const ok = check(
      { guests: [{ ...vm, disks: { scsi0: "local-lvm:vm-101-disk-0" } }] },
      { withLocalDisks: true },
      {
        ...policy,
        withLocalDisks: true,
      },
    );
    expect(statusOf(ok)["guest-movable"]).toBe("pass");
    const pci = check({ guests: [{ ...vm, extraConfig: { hostpci0: "0000:01:00.0" } }] });
    expect(statusOf(pci)["guest-movable"]).toBe("fail");
  });

  it("fails on HA negative affinity with a guest now on the target", () => {
    const c = check({
      guests: [
        { ...vm, ha: "started" },
        { vmid: 102, node: "node2", ha: "started" },
      ],
      rules: [{ rule: "apart", type: "resource-affinity", affinity: "negative", resources: "vm:101,vm:102" }],
    });
    expect(c.items.find((i) => i.name === "ha-affinity")).toEqual({
      name: "ha-affinity",
      status: "fail",
      reason: "HA resource-affinity rule 'apart' keeps it apart from vm:102 on that node",
    });
  });
});
