import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Secret } from "../lib/secret.ts";
import { createHttpPveClient } from "../proxmox/httpClient.ts";
import { recordSnapshot } from "../proxmox/snapshot.ts";
import { GiB } from "./cluster.ts";
import { clusterFromSnapshot } from "./fromSnapshot.ts";
import { LabClusterBuilder } from "./generate.ts";
import { type RunningLab, startLab } from "./server.ts";
import { type LabHttp, labHttp } from "./testClient.ts";

describe("a lab built from a snapshot of another lab", () => {
  let original: RunningLab;
  let replayed: RunningLab;
  let a: LabHttp;
  let b: LabHttp;

  beforeAll(async () => {
    const cluster = new LabClusterBuilder({ nodes: 3, seed: 11 })
      .storage({
        id: "fast",
        type: "zfspool",
        shared: false,
        content: ["images"],
        nodes: ["node1"],
        totalBytes: 500 * GiB,
        usedBytes: 0,
      })
      .vm(101, { node: "node1", workload: "game", memoryGiB: 8, disks: [{ storage: "fast", sizeGiB: 20 }] })
      .vm(102, { node: "node2", workload: "video", hostpci: ["0000:01:00.0"], lock: "backup" })
      .vm(103, { node: "node2", workload: "idle", ha: true })
      .vm(104, { node: "node3", status: "stopped" })
      .ct(105, { node: "node3", workload: "idle" })
      .haRule({
        rule: "r1",
        type: "node-affinity",
        resources: ["vm:103"],
        nodes: ["node2:2", "node3"],
        strict: true,
      })
      .build();
    cluster.setNodeMaintenance("node3", true);
    original = await startLab({ cluster, responders: false, authFailureDelayMs: 0 });
    a = labHttp(original);
    // Recorded the way `pve-evacuate snapshot` records a real cluster.
    const client = createHttpPveClient({
      host: original.host,
      port: original.port,
      tokenId: original.tokenId,
      tokenSecret: new Secret(original.tokenSecret),
      fingerprint: original.fingerprint,
      timeoutMs: 10_000,
      retries: 0,
    });
    const snapshot = await recordSnapshot(client);
    await client.close();
    replayed = await startLab({ fromSnapshot: snapshot, responders: false, authFailureDelayMs: 0 });
    b = labHttp(replayed);
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
    await Promise.all([original.close(), replayed.close()]);
  });

  const stable = (rows: Record<string, unknown>[]) =>
    rows.map(({ id, node, status, name, maxmem, maxcpu, tags, lock, hastate, template, type }) => ({
      id,
      node,
      status,
      name,
      maxmem,
      maxcpu,
      tags,
      lock,
      hastate,
      template,
      type,
    }));

  it("shows the same guests, nodes and storages", async () => {
    const [before, after] = await Promise.all([
      a.data<Record<string, unknown>[]>("/cluster/resources"),
      b.data<Record<string, unknown>[]>("/cluster/resources"),
    ]);
    expect(stable(after)).toEqual(stable(before));
  });

  it("keeps configs verbatim (digest included) and the migration preconditions", async () => {
    for (const path of [
      "/nodes/node1/qemu/101/config",
      "/nodes/node2/qemu/102/config",
      "/nodes/node3/lxc/105/config",
    ]) {
      expect(await b.data(path)).toEqual(await a.data(path));
    }
    expect(await b.data("/nodes/node1/qemu/101/migrate")).toEqual(
      await a.data("/nodes/node1/qemu/101/migrate"),
    );
  });

  it("keeps HA resources, rules, node maintenance and the PVE version", async () => {
    const ms = await b.data<{
      manager_status: { node_status: Record<string, string>; service_status: Record<string, unknown> };
    }>("/cluster/ha/status/manager_status");
    expect(ms.manager_status.node_status.node3).toBe("maintenance");
    expect(Object.keys(ms.manager_status.service_status)).toEqual(["vm:103"]);
    expect(await b.data("/cluster/ha/rules")).toEqual(await a.data("/cluster/ha/rules"));
    expect(await b.data("/version")).toEqual(await a.data("/version"));
  });

  it("takes the workload from the workload-* tag", () => {
    expect(replayed.cluster.guest(101)?.workload).toBe("game");
    expect(replayed.cluster.guest(102)?.workload).toBe("video");
  });

  it("refuses a snapshot without nodes", () => {
    expect(() =>
      clusterFromSnapshot({
        _meta: { format: "pve-evacuate-snapshot/1", recordedAt: new Date().toISOString(), source: "x" },
      }),
    ).toThrow(/no nodes/);
  });
});
