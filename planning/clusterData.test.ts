import { describe, expect, it } from "vitest";
import type { PveClient } from "../proxmox/port.ts";
import { gatherClusterData } from "./clusterData.ts";
import { buildClusterData } from "./fixtures/build.ts";
import { type FakeClientLog, fakePveClient } from "./fixtures/fakeClient.ts";

const data = buildClusterData({
  nodes: [
    { name: "node1", memGiB: 16 },
    { name: "node2", memGiB: 16 },
    { name: "node3", memGiB: 16, online: false },
  ],
  guests: [
    { vmid: 101, node: "node1" },
    { vmid: 200, node: "node1", type: "lxc" },
    { vmid: 102, node: "node2" },
  ],
});

describe("gatherClusterData", () => {
  it("gathers everything, asking only online nodes and qemu preconditions", async () => {
    const log: FakeClientLog = { calls: [] };
    const got = await gatherClusterData(fakePveClient(data, log));
    expect(got).toEqual(data);
    expect(log.calls).not.toContain("/nodes/node3/status");
    expect(log.calls).not.toContain("/nodes/node1/lxc/200/migrate");
  });

  it("limits per-guest calls to the source node or to given guests", async () => {
    const log: FakeClientLog = { calls: [] };
    const got = await gatherClusterData(fakePveClient(data, log), { guestsOn: "node1" });
    expect(Object.keys(got.guestConfigs).sort()).toEqual(["101", "200"]);
    expect(Object.keys(got.preconditions)).toEqual(["101"]);
    const oneLog: FakeClientLog = { calls: [] };
    const one = await gatherClusterData(fakePveClient(data, oneLog), { vmids: [102], nodes: ["node1"] });
    expect(Object.keys(one.guestConfigs)).toEqual(["102"]);
    expect(Object.keys(one.nodeStatus)).toEqual(["node1"]);
    expect(oneLog.calls.filter((c) => c.endsWith("/status") && c.startsWith("/nodes/"))).toEqual([
      "/nodes/node1/status",
    ]);
  });

  it("tolerates one unreachable node status (595), not other failures", async () => {
    const missing = {
      ...data,
      nodeStatus: { node1: data.nodeStatus.node1 as NonNullable<(typeof data.nodeStatus)["node1"]> },
    };
    const got = await gatherClusterData(fakePveClient(missing));
    expect(Object.keys(got.nodeStatus)).toEqual(["node1"]);

    const broken: PveClient = {
      ...fakePveClient(data),
      nodeStatus: async () => {
        throw new TypeError("bug");
      },
    };
    await expect(gatherClusterData(broken)).rejects.toThrow("bug");
  });
});
