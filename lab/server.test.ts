/**
 * The lab speaks PVE: the real `proxmox-api` client works against it over HTTPS with token auth, and
 * errors come in PVE's wire form (status, reason phrase, body or none, content type).
 */
import { X509Certificate } from "node:crypto";
import { connect } from "node:tls";
import proxmoxApi from "proxmox-api";
import { Agent, fetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LabClusterBuilder } from "./generate.ts";
import { type RunningLab, startLab } from "./server.ts";
import { type LabHttp, labHttp } from "./testClient.ts";

function cluster() {
  return new LabClusterBuilder({ nodes: 3 })
    .vm(101, { node: "node1", workload: "idle" })
    .vm(102, { node: "node1", workload: "video" })
    .vm(103, { node: "node1", workload: "game" })
    .vm(104, { node: "node1", workload: "idle", hostpci: ["0000:01:00.0"] })
    .vm(201, { node: "node2", workload: "idle", status: "stopped" })
    .ct(301, { node: "node3" })
    .build();
}

describe("lab server", () => {
  let lab: RunningLab;
  let http: LabHttp;
  let dispatcher: Agent;

  beforeAll(async () => {
    lab = await startLab({ cluster: cluster(), authFailureDelayMs: 0, timeScale: 1000 });
    http = labHttp(lab);
    dispatcher = new Agent({ connect: { ca: lab.caPem } });
  });
  afterAll(async () => {
    await dispatcher.close();
    await http.close();
    await lab.close();
  });

  const client = (tokenSecret: string) =>
    proxmoxApi({
      host: "127.0.0.1",
      port: lab.port,
      tokenID: lab.tokenId,
      tokenSecret,
      queryTimeout: 5000,
      fetch: (url, init) => fetch(url, { ...init, dispatcher }),
    });

  it("serves the real proxmox-api client over HTTPS with token auth", async () => {
    const pve = client(lab.tokenSecret);
    const vms = await pve.cluster.resources.$get({ type: "vm" });
    expect(vms.map((r) => r.vmid)).toEqual([101, 102, 103, 104, 201, 301]);
    const nodes = await pve.nodes.$get();
    expect(nodes.map((n) => n.node)).toEqual(["node1", "node2", "node3"]);
    const config = await pve.nodes.$("node1").qemu.$(103).config.$get();
    expect(config.tags).toMatch(/^workload-game;probe-port-\d+$/);
  });

  it("refuses a wrong token with 401 through the real client", async () => {
    const pve = client("00000000-0000-4000-8000-000000000000");
    await expect(pve.version.$get()).rejects.toThrow(/401 Authentication failed!/);
  });

  it("answers 401 `No ticket` without an Authorization header, with no body", async () => {
    const r = await http.raw("GET", "/version", { authorization: null });
    expect(r).toMatchObject({ status: 401, statusText: "No ticket", contentType: null, body: "" });
    const bad = await http.raw("GET", "/version", { authorization: "PVEAPIToken=evacuate@pve!lab=nope" });
    expect(bad.statusText).toBe("Authentication failed!");
  });

  it("presents a certificate for 127.0.0.1 signed by the lab CA, with the advertised fingerprint", async () => {
    const peer = await new Promise<string>((resolve, reject) => {
      const s = connect({ host: "127.0.0.1", port: lab.port, ca: lab.caPem }, () => {
        const fp = s.getPeerCertificate().fingerprint256;
        s.end();
        resolve(fp);
      });
      s.on("error", reject);
    });
    expect(peer).toBe(lab.fingerprint);
    expect(new X509Certificate(lab.caPem).ca).toBe(true);
  });

  it("reports parameter errors as PVE does (400, errors per parameter)", async () => {
    const r = await http.get("/nodes/node1/qemu/abc/config");
    expect(r).toMatchObject({
      status: 400,
      statusText: "Parameter verification failed.",
      contentType: "application/json;charset=UTF-8",
      body: {
        data: null,
        errors: { vmid: "type check ('integer') failed - got 'abc'" },
        message: "Parameter verification failed.\n",
      },
    });
    const enumErr = await http.get("/cluster/resources", { type: "pool" });
    expect((enumErr.body as { errors: Record<string, string> }).errors.type).toBe(
      "value 'pool' does not have a value in the enumeration 'vm, storage, node, sdn'",
    );
    const extra = await http.get("/nodes", { bogus: 1 });
    expect((extra.body as { errors: Record<string, string> }).errors.bogus).toMatch(/not defined in schema/);
    const missing = await http.post("/nodes/node1/qemu/101/migrate", { online: 1 });
    expect((missing.body as { errors: Record<string, string> }).errors.target).toBe(
      "property is missing and it is not optional",
    );
  });

  it("reports unknown nodes and guests with PVE's die messages (500)", async () => {
    const node = await http.get("/nodes/node9/qemu/101/config");
    expect(node.status).toBe(500);
    expect(node.statusText).toBe(
      "hostname lookup 'node9' failed - failed to get address info for: node9: Name or service not known",
    );
    const guest = await http.get("/nodes/node1/qemu/999/config");
    expect(guest.body).toEqual({
      data: null,
      message: "Configuration file 'nodes/node1/qemu-server/999.conf' does not exist\n",
    });
    const elsewhere = await http.get("/nodes/node2/qemu/101/status/current");
    expect(elsewhere.statusText).toBe("Configuration file 'nodes/node2/qemu-server/101.conf' does not exist");
    const lxc = await http.get("/nodes/node1/lxc/101/config");
    expect(lxc.statusText).toBe("Configuration file 'nodes/node1/lxc/101.conf' does not exist");
  });

  it("answers 501 for methods PVE does not have", async () => {
    const r = await http.get("/nodes/node1/frobnicate");
    expect(r).toMatchObject({
      status: 501,
      statusText: "Method 'GET /nodes/node1/frobnicate' not implemented",
    });
  });

  it("refuses migrations the way PVE's API code does", async () => {
    const running = await http.post("/nodes/node1/qemu/101/migrate", { target: "node2" });
    expect(running).toMatchObject({ status: 500, statusText: "can't migrate running VM without --online" });
    const local = await http.post("/nodes/node1/qemu/101/migrate", { target: "node1", online: 1 });
    expect((local.body as { errors: Record<string, string> }).errors).toEqual({
      target: "target is local node.",
    });
    const unknown = await http.post("/nodes/node1/qemu/101/migrate", { target: "node7", online: 1 });
    expect(unknown.statusText).toBe("no such cluster node 'node7'");
    const rootOnly = await http.post("/nodes/node1/qemu/101/migrate", {
      target: "node2",
      online: 1,
      force: 1,
    });
    expect((rootOnly.body as { errors: Record<string, string> }).errors).toEqual({
      force: "Only root may use this option.",
    });
    const ct = await http.post("/nodes/node3/lxc/301/migrate", { target: "node1" });
    expect(ct.statusText).toBe("can't migrate running container without --online or --restart");
    lab.cluster.setLock(102, "backup");
    try {
      const locked = await http.post("/nodes/node1/qemu/102/migrate", { target: "node2", online: 1 });
      expect(locked).toMatchObject({ status: 500, statusText: "VM is locked (backup)" });
      const pre = await http.get("/nodes/node1/qemu/102/migrate");
      expect(pre.statusText).toBe("VM is locked (backup)");
    } finally {
      lab.cluster.setLock(102, undefined);
    }
  });

  it("pages task logs like PVE (start 0-based, n 1-based, limit 0 = all, total)", async () => {
    const post = await http.post("/nodes/node1/qemu/104/migrate", { target: "node2", online: 1 });
    const upid = (post.body as { data: string }).data;
    const path = `/nodes/node1/tasks/${encodeURIComponent(upid)}`;
    for (let i = 0; i < 200; i++) {
      const status = (await http.data<{ status: string }>(`${path}/status`)).status;
      if (status === "stopped") break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const all = (await http.get(`${path}/log`, { limit: 0 })).body as {
      data: { n: number; t: string }[];
      total: number;
    };
    expect(all?.data.at(-1)?.t).toBe("TASK ERROR: migration aborted");
    expect(all?.data.some((l) => l.t.includes("can't migrate VM which uses local devices: hostpci0"))).toBe(
      true,
    );
    expect(all?.total).toBe(all?.data.length);
    const page = (await http.get(`${path}/log`, { start: 1, limit: 1 })).body as {
      data: { n: number }[];
      total: number;
    };
    expect(page.data).toEqual([{ n: 2, t: all?.data[1]?.t }]);
    expect(page.total).toBe(all?.total);
    const missing = await http.get(`/nodes/node2/tasks/${encodeURIComponent(upid)}/log`);
    expect((missing.body as { data: unknown }).data).toEqual([
      { n: 1, t: "unable to open file - No such file or directory" },
    ]);
    const bad = await http.get("/nodes/node1/tasks/not-a-upid/status");
    expect((bad.body as { errors: unknown }).errors).toEqual({ upid: "unable to parse worker upid" });
  });

  it("answers 595 for an offline node, and shows it offline cluster-wide", async () => {
    const id = lab.faults.nodeOffline("node2");
    try {
      const r = await http.get("/nodes/node2/qemu");
      expect(r).toMatchObject({ status: 595, statusText: "No route to host", contentType: null, body: "" });
      const status = await http.data<{ type: string; name: string; online?: number }[]>("/cluster/status");
      expect(status.find((s) => s.name === "node2")?.online).toBe(0);
      const res = await http.data<{ id: string; status: string }[]>("/cluster/resources");
      expect(res.find((x) => x.id === "node/node2")?.status).toBe("offline");
      expect(res.find((x) => x.id === "qemu/201")?.status).toBe("unknown");
    } finally {
      lab.faults.remove(id);
    }
    expect((await http.get("/nodes/node2/qemu")).status).toBe(200);
  });

  it("injects API errors N times, then answers normally", async () => {
    lab.faults.apiError("/cluster/resources", { times: 2 });
    lab.faults.apiError("/nodes/*/status", { status: 503, times: 1 });
    expect((await http.get("/cluster/resources")).status).toBe(500);
    expect((await http.get("/cluster/resources")).body).toEqual({
      data: null,
      message: "injected failure (lab fault)\n",
    });
    expect((await http.get("/cluster/resources")).status).toBe(200);
    const unavailable = await http.get("/nodes/node3/status");
    expect(unavailable).toMatchObject({ status: 503, statusText: "Service Unavailable", contentType: null });
    expect((await http.get("/nodes/node3/status")).status).toBe(200);
  });

  it("denies a privilege with 403 as PVE's permission check does", async () => {
    const id = lab.faults.denyPrivilege("VM.Migrate");
    try {
      const r = await http.post("/nodes/node1/qemu/101/migrate", { target: "node2", online: 1 });
      expect(r).toMatchObject({ status: 403, statusText: "Permission check failed (/vms/101, VM.Migrate)" });
    } finally {
      lab.faults.remove(id);
    }
  });

  it("lists the VMs' responders and accepts faults over /lab", async () => {
    const vms = (await http.raw("GET", "/lab/vms")).body as {
      data: { vmid: number; responder: { tcpPort: number } }[];
    };
    expect(vms.data.map((v) => v.vmid)).toEqual([101, 102, 103, 104]);
    expect(vms.data[0]?.responder.tcpPort).toBeGreaterThan(0);
    const added = await http.raw("POST", "/lab/faults", {
      body: JSON.stringify({ kind: "api-error", path: "/version", times: 1 }),
    });
    expect(added.status).toBe(200);
    expect((await http.get("/version")).status).toBe(500);
    expect((await http.get("/version")).status).toBe(200);
  });
});
