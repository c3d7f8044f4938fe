import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GiB } from "./cluster.ts";
import { generateCluster, LabClusterBuilder } from "./generate.ts";
import { guestConfig } from "./views.ts";

/** Everything but the clock-derived fields. */
function shape(seed: number, nodes: number, vms: number) {
  const c = generateCluster({ seed, nodes, vms });
  return {
    nodes: c.nodes.map(({ bootEpochS: _b, ...n }) => n),
    guests: c.allGuests().map(({ startedAtEpochS: _s, ...g }) => g),
    ha: [...c.ha.values()],
    rules: c.haRules,
  };
}

describe("generateCluster", () => {
  it("is deterministic for a seed", () => {
    fc.assert(
      fc.property(fc.nat(1000), fc.integer({ min: 1, max: 5 }), fc.nat(20), (seed, nodes, vms) => {
        expect(shape(seed, nodes, vms)).toEqual(shape(seed, nodes, vms));
      }),
      { numRuns: 30 },
    );
  });

  it("defaults to 3 nodes of 64 GiB and 12 guests from VMID 101 with every kind the planner meets", () => {
    const c = generateCluster();
    expect(c.nodes.map((n) => [n.name, n.memTotalBytes])).toEqual([
      ["node1", 64 * GiB],
      ["node2", 64 * GiB],
      ["node3", 64 * GiB],
    ]);
    const guests = c.allGuests();
    expect(guests.map((g) => g.vmid)).toEqual(Array.from({ length: 12 }, (_, i) => 101 + i));
    expect(
      new Set(guests.filter((g) => g.status === "running" && g.type === "qemu").map((g) => g.workload)),
    ).toEqual(new Set(["idle", "video", "game"]));
    expect(guests.filter((g) => g.template)).toHaveLength(1);
    expect(guests.filter((g) => g.type === "lxc")).toHaveLength(1);
    expect(guests.filter((g) => g.status === "stopped" && !g.template)).toHaveLength(2);
    expect(guests.filter((g) => g.hostpci.length > 0)).toHaveLength(1);
    expect(c.ha.size).toBe(1);
    for (const g of guests) expect(g.tags).toEqual([`workload-${g.workload}`]);
    // every node carries guests, and fits them
    for (const n of c.nodes) {
      expect(c.guestsOn(n.name).length).toBeGreaterThan(0);
      expect(c.memUsedOn(n.name)).toBeLessThan(n.memTotalBytes);
    }
  });

  it("keeps at least half the guests ordinary running VMs, whatever the count", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.nat(30), (nodes, vms) => {
        const guests = generateCluster({ nodes, vms }).allGuests();
        expect(guests).toHaveLength(vms);
        const ordinary = guests.filter(
          (g) => g.type === "qemu" && g.status === "running" && g.hostpci.length === 0,
        );
        expect(ordinary.length * 2).toBeGreaterThanOrEqual(vms);
      }),
    );
  });
});

describe("LabClusterBuilder", () => {
  it("places exactly what it is told", () => {
    const c = new LabClusterBuilder({ nodes: 2 })
      .vm(101, { node: "node1", workload: "idle" })
      .vm(102, { node: "node1", workload: "video" })
      .vm(103, { node: "node1", workload: "game" })
      .vm(104, { node: "node1", hostpci: ["0000:01:00.0"] })
      .build();
    expect(c.guestsOn("node1").map((g) => [g.vmid, g.workload])).toEqual([
      [101, "idle"],
      [102, "video"],
      [103, "game"],
      [104, "idle"],
    ]);
    expect(guestConfig(c.guest(104) ?? ({} as never)).hostpci0).toBe("0000:01:00.0");
    expect(guestConfig(c.guest(101) ?? ({} as never))).toMatchObject({
      scsi0: "ceph-pool:vm-101-disk-0,iothread=1,size=32G",
      memory: "4096",
      tags: "workload-idle",
    });
  });

  it("rejects unknown nodes and duplicate VMIDs", () => {
    expect(() => new LabClusterBuilder({ nodes: 1 }).vm(101, { node: "node2" })).toThrow(
      /unknown node node2/,
    );
    expect(() => new LabClusterBuilder().vm(101, { node: "node1" }).vm(101, { node: "node2" })).toThrow(
      /duplicate VMID 101/,
    );
  });
});
