import { describe, expect, it } from "vitest";
import { parseQemuGuests, qemuGuestLines, qemuLabCluster, qemuLabOptions } from "./labCli.ts";

describe("lab --qemu options", () => {
  it("reads the guest list and refuses unknown workloads with the valid ones named", () => {
    expect(parseQemuGuests("idle, video,game")).toEqual(["idle", "video", "game"]);
    expect(() => parseQemuGuests("idle,doom")).toThrow(/unknown workload "doom".*idle, video, game/);
    expect(() => parseQemuGuests(" , ")).toThrow(/no workload/);
  });

  it("puts one guest per workload on node1 and keeps at least one node to migrate to", () => {
    const c = qemuLabCluster(1, ["idle", "game"]);
    expect(c.nodes.map((n) => n.name)).toEqual(["node1", "node2"]);
    expect(c.allGuests().map((g) => [g.vmid, g.node, g.workload, g.status])).toEqual([
      [101, "node1", "idle", "running"],
      [102, "node1", "game", "running"],
    ]);
  });

  it("passes only what was given, and describes the guests", () => {
    expect(qemuLabOptions({})).toEqual({});
    expect(qemuLabOptions({ qemuMemory: 128, qemuDir: "/d", qemuSubnet: "10.9.9.0/24" })).toEqual({
      memoryMiB: 128,
      dir: "/d",
      subnet: "10.9.9.0/24",
    });
    expect(qemuGuestLines([])).toEqual([]);
    expect(
      qemuGuestLines([
        { vmid: 101, workload: "idle", address: "10.213.77.10", tcpPort: 7, memoryMiB: 256, pid: 42 },
      ]),
    ).toEqual([
      "Real QEMU guests (TCG, live-migrated over QMP; reachable from this host):",
      "  101 idle  10.213.77.10    ping, or TCP port 7  256 MiB  qemu pid 42",
    ]);
  });
});
