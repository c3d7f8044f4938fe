/**
 * Every endpoint the lab serves that PVE documents is checked against PVE's own `returns` schema
 * (lab/fixtures/pve-returns-schema.json, reduced from the API viewer data of PVE 9.1), for every kind of
 * guest and node state the lab can show.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GiB } from "./cluster.ts";
import { LabClusterBuilder } from "./generate.ts";
import { checkPveSchema, type PveSchema } from "./pveSchemaCheck.ts";
import { type RunningLab, startLab } from "./server.ts";
import { type LabHttp, labHttp, waitFor } from "./testClient.ts";

const schemas = JSON.parse(
  readFileSync(new URL("./fixtures/pve-returns-schema.json", import.meta.url), "utf8"),
) as Record<string, PveSchema>;

function schemaFor(key: string): PveSchema {
  const s = schemas[key];
  if (!s) throw new Error(`no schema for ${key} in the fixture`);
  return s;
}

function cluster() {
  return new LabClusterBuilder({ nodes: 3, seed: 7 })
    .storage({
      id: "fast-nvme",
      type: "zfspool",
      shared: false,
      content: ["images"],
      nodes: ["node1", "node2"],
      totalBytes: 900 * GiB,
      usedBytes: 0,
    })
    .vm(101, { node: "node1", workload: "idle" })
    .vm(102, { node: "node1", workload: "video" })
    .vm(103, { node: "node1", workload: "game", memoryGiB: 8 })
    .vm(104, { node: "node1", workload: "video", hostpci: ["0000:01:00.0,pcie=1"], usb: ["host=1-1"] })
    .vm(105, { node: "node2", workload: "idle", ha: true })
    .vm(106, { node: "node3", workload: "idle", ha: true })
    .ct(107, { node: "node2", workload: "idle" })
    .vm(108, { node: "node2", status: "stopped" })
    .vm(109, { node: "node3", template: true, name: "tmpl-debian-12" })
    .vm(110, {
      node: "node1",
      disks: [
        { storage: "fast-nvme", sizeGiB: 16 },
        { storage: "local-lvm", sizeGiB: 8 },
      ],
    })
    .haRule({
      rule: "keep-apart",
      type: "resource-affinity",
      resources: ["vm:105", "vm:106"],
      affinity: "negative",
      strict: true,
    })
    .haRule({
      rule: "prefer-2",
      type: "node-affinity",
      resources: ["vm:105"],
      nodes: ["node2:2", "node1"],
      strict: false,
    })
    .build();
}

describe("lab answers match PVE's documented return schemas", () => {
  let lab: RunningLab;
  let http: LabHttp;

  beforeAll(async () => {
    lab = await startLab({ cluster: cluster(), timeScale: 1000, authFailureDelayMs: 0, haCrmDelayMs: 100 });
    http = labHttp(lab);
  });
  afterAll(async () => {
    await http.close();
    await lab.close();
  });

  async function expectConforms(
    method: "GET" | "POST" | "DELETE",
    template: string,
    path: string,
    params?: Record<string, string | number>,
  ) {
    const r =
      method === "GET"
        ? await http.get(path, params)
        : method === "POST"
          ? await http.post(path, params)
          : await http.del(path);
    expect(r.status, `${method} ${path}: ${r.statusText}`).toBe(200);
    expect(r.contentType).toBe("application/json;charset=UTF-8");
    const data = (r.body as { data: unknown }).data;
    expect(checkPveSchema(data, schemaFor(`${method} ${template}`)), `${method} ${path}`).toEqual([]);
    return data;
  }

  async function checkAllReads() {
    await expectConforms("GET", "/version", "/version");
    await expectConforms("GET", "/cluster/status", "/cluster/status");
    for (const type of [undefined, "vm", "node", "storage", "sdn"]) {
      await expectConforms("GET", "/cluster/resources", "/cluster/resources", type ? { type } : undefined);
    }
    await expectConforms("GET", "/cluster/tasks", "/cluster/tasks");
    await expectConforms("GET", "/nodes", "/nodes");
    for (const n of lab.cluster.nodes.filter((x) => x.online)) {
      await expectConforms("GET", "/nodes/{node}/status", `/nodes/${n.name}/status`);
      await expectConforms("GET", "/nodes/{node}/qemu", `/nodes/${n.name}/qemu`);
      await expectConforms("GET", "/nodes/{node}/lxc", `/nodes/${n.name}/lxc`);
      await expectConforms("GET", "/nodes/{node}/tasks", `/nodes/${n.name}/tasks`, { source: "all" });
    }
    for (const g of lab.cluster.allGuests()) {
      if (!lab.cluster.node(g.node)?.online) continue;
      const base = `/nodes/${g.node}/${g.type}/${g.vmid}`;
      await expectConforms("GET", `/nodes/{node}/${g.type}/{vmid}/config`, `${base}/config`);
      await expectConforms("GET", `/nodes/{node}/${g.type}/{vmid}/status/current`, `${base}/status/current`);
      if (g.lock === undefined)
        await expectConforms("GET", `/nodes/{node}/${g.type}/{vmid}/migrate`, `${base}/migrate`);
      if (g.type === "qemu" && g.status === "running") {
        await expectConforms(
          "GET",
          "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces",
          `${base}/agent/network-get-interfaces`,
        );
      }
    }
    await expectConforms("GET", "/cluster/ha/status/current", "/cluster/ha/status/current");
    await expectConforms("GET", "/cluster/ha/status/manager_status", "/cluster/ha/status/manager_status");
    await expectConforms("GET", "/cluster/ha/resources", "/cluster/ha/resources");
    await expectConforms("GET", "/cluster/ha/rules", "/cluster/ha/rules");
  }

  it("covers the precondition cases: blockers, local disks, restricted storage, HA affinity", async () => {
    const pre = (await expectConforms(
      "GET",
      "/nodes/{node}/qemu/{vmid}/migrate",
      "/nodes/node1/qemu/110/migrate",
    )) as Record<string, unknown>;
    expect(pre.allowed_nodes).toEqual(["node2"]);
    expect(pre.not_allowed_nodes).toEqual({ node2: {}, node3: { unavailable_storages: ["fast-nvme"] } });
    expect(pre.local_disks).toHaveLength(2);
    const blocked = (await http.data<Record<string, unknown>>("/nodes/node1/qemu/104/migrate")) ?? {};
    expect(blocked.local_resources).toEqual(["hostpci0", "usb0"]);
    const ha = (await http.data<Record<string, unknown>>("/nodes/node2/qemu/105/migrate")) ?? {};
    expect(ha.not_allowed_nodes).toEqual({
      node1: {},
      node3: { "blocking-ha-resources": [{ sid: "vm:106", cause: "resource-affinity" }] },
    });
    expect(ha["dependent-ha-resources"]).toEqual([]);
  });

  it("in a healthy cluster", async () => {
    await checkAllReads();
  });

  it("for migrate POSTs, task status/log/stop, during and after migrations", async () => {
    const upid = (await expectConforms(
      "POST",
      "/nodes/{node}/qemu/{vmid}/migrate",
      "/nodes/node1/qemu/101/migrate",
      {
        target: "node2",
        online: 1,
      },
    )) as string;
    const ct = (await expectConforms(
      "POST",
      "/nodes/{node}/lxc/{vmid}/migrate",
      "/nodes/node2/lxc/107/migrate",
      {
        target: "node3",
        restart: 1,
      },
    )) as string;
    const task = `/nodes/node1/tasks/${encodeURIComponent(upid)}`;
    await expectConforms("GET", "/nodes/{node}/tasks/{upid}/status", `${task}/status`);
    await checkAllReads(); // with locks and a running task in place
    const done = await waitFor(async () => {
      const s = (await http.data<{ status: string }>(`${task}/status`)) ?? { status: "" };
      return s.status === "stopped" ? s : undefined;
    });
    expect(checkPveSchema(done, schemaFor("GET /nodes/{node}/tasks/{upid}/status"))).toEqual([]);
    await expectConforms("GET", "/nodes/{node}/tasks/{upid}/log", `${task}/log`, { limit: 0 });
    await expectConforms("DELETE", "/nodes/{node}/tasks/{upid}", task);
    await waitFor(async () =>
      (await http.data<{ status: string }>(`/nodes/node2/tasks/${encodeURIComponent(ct)}/status`)).status ===
      "stopped"
        ? true
        : undefined,
    );
    // an HA migration: hamigrate, then qmigrate by root@pam
    await expectConforms("POST", "/nodes/{node}/qemu/{vmid}/migrate", "/nodes/node2/qemu/105/migrate", {
      target: "node1",
      online: 1,
    });
    await checkAllReads();
  });

  it("with a node offline and one in maintenance", async () => {
    const id = lab.faults.nodeOffline("node3");
    lab.cluster.setNodeMaintenance("node2", true);
    try {
      await checkAllReads();
    } finally {
      lab.faults.remove(id);
      lab.cluster.setNodeMaintenance("node2", false);
    }
  });
});
