/**
 * Migrations through the HTTP API, observed the way a client observes them: task status and log,
 * /cluster/resources, and a TCP connect loop against the VM's responder.
 */
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRenderedBytes } from "../lib/bytes.ts";
import { LabClusterBuilder } from "./generate.ts";
import { type RunningLab, startLab } from "./server.ts";
import { type LabHttp, labHttp, waitFor } from "./testClient.ts";

// 10, not faster: the window between the node flip and the task end (PVE's cleanup) must stay wide
// enough for a poll every 15 ms on a loaded machine.
const TIME_SCALE = 10;

function cluster() {
  return new LabClusterBuilder({ nodes: 3, seed: 3 })
    .vm(101, { node: "node1", workload: "idle" })
    .vm(102, { node: "node1", workload: "video", memoryGiB: 4 })
    .vm(103, { node: "node1", workload: "game", memoryGiB: 4, cores: 4 })
    .vm(104, { node: "node1", workload: "video", hostpci: ["0000:01:00.0,pcie=1"] })
    .vm(110, {
      node: "node1",
      workload: "idle",
      memoryGiB: 2,
      disks: [
        { storage: "ceph-pool", sizeGiB: 32 },
        { storage: "local-lvm", sizeGiB: 1 },
      ],
    })
    .vm(111, { node: "node1", workload: "video", memoryGiB: 4 })
    .vm(112, { node: "node1", workload: "idle" })
    .vm(113, { node: "node1", workload: "video" })
    .vm(114, { node: "node1", workload: "idle" })
    .vm(115, { node: "node1", workload: "idle" })
    .vm(105, { node: "node2", workload: "idle", ha: true })
    .vm(106, { node: "node2", workload: "idle", ha: true })
    .vm(108, { node: "node3", workload: "idle", ha: true })
    .ct(107, { node: "node2" })
    .haRule({
      rule: "apart",
      type: "resource-affinity",
      resources: ["vm:106", "vm:108"],
      affinity: "negative",
      strict: true,
    })
    .build();
}

interface TaskStatus {
  status: string;
  exitstatus?: string;
  type: string;
  user: string;
  tokenid?: string;
}

describe("lab migrations", () => {
  let lab: RunningLab;
  let http: LabHttp;

  beforeAll(async () => {
    lab = await startLab({
      cluster: cluster(),
      timeScale: TIME_SCALE,
      authFailureDelayMs: 0,
      haCrmDelayMs: 5000,
    });
    http = labHttp(lab);
  });
  afterAll(async () => {
    await http.close();
    await lab.close();
  });

  const taskPath = (node: string, upid: string) => `/nodes/${node}/tasks/${encodeURIComponent(upid)}`;
  const status = (node: string, upid: string) => http.data<TaskStatus>(`${taskPath(node, upid)}/status`);
  const log = async (node: string, upid: string) =>
    (await http.data<{ n: number; t: string }[]>(`${taskPath(node, upid)}/log`, { limit: 0 })).map(
      (l) => l.t,
    );
  const waitDone = (node: string, upid: string) =>
    waitFor(async () => {
      const s = await status(node, upid);
      return s.status === "stopped" ? s : undefined;
    }, 30_000);
  async function migrate(node: string, vmid: number, params: Record<string, string | number>, type = "qemu") {
    const r = await http.post(`/nodes/${node}/${type}/${vmid}/migrate`, params);
    expect(r.status, r.statusText).toBe(200);
    return (r.body as { data: string }).data;
  }
  const resource = async (vmid: number) =>
    (
      await http.data<{ vmid: number; node: string; lock?: string; status: string }[]>("/cluster/resources", {
        type: "vm",
      })
    ).find((r) => r.vmid === vmid);

  /** Live-migrates a VM while a TCP connect loop and a resource poller watch it. */
  async function observedLiveMigration(vmid: number, target: string) {
    const { responder } = (
      (await http.raw("GET", "/lab/vms")).body as {
        data: { vmid: number; responder: { host: string; tcpPort: number } }[];
      }
    ).data.find((v) => v.vmid === vmid) ?? { responder: undefined };
    if (!responder) throw new Error(`no responder for ${vmid}`);
    const upid = await migrate("node1", vmid, { target, online: 1 });
    let running = true;
    const probes: { at: number; ok: boolean }[] = [];
    const prober = (async () => {
      while (running) {
        const at = Date.now();
        const ok = await new Promise<boolean>((resolve) => {
          const s = connect({ host: responder.host, port: responder.tcpPort });
          s.setTimeout(300, () => {
            s.destroy();
            resolve(false);
          });
          s.once("connect", () => {
            s.destroy();
            resolve(true);
          });
          s.once("error", () => resolve(false));
        });
        probes.push({ at, ok });
        await new Promise((r) => setTimeout(r, 4));
      }
    })();
    const seen = { lockWhileRunning: false, flippedWhileRunning: false };
    let final: TaskStatus | undefined;
    while (!final) {
      const [s, r] = await Promise.all([status("node1", upid), resource(vmid)]);
      if (s.status === "running") {
        if (r?.lock === "migrate") seen.lockWhileRunning = true;
        if (r?.node === target) seen.flippedWhileRunning = true;
      } else final = s;
      await new Promise((res) => setTimeout(res, 15));
    }
    running = false;
    await prober;
    // Longest run of refused connects, from the first refusal to the next success.
    let longest = 0;
    let failStart: number | undefined;
    for (const p of probes) {
      if (!p.ok && failStart === undefined) failStart = p.at;
      if (p.ok && failStart !== undefined) {
        longest = Math.max(longest, p.at - failStart);
        failStart = undefined;
      }
    }
    const truth = lab.groundTruth().find((t) => t.upid === upid);
    return {
      upid,
      final,
      seen,
      measuredOutageMs: longest,
      truth,
      log: await log("node1", upid),
      after: await resource(vmid),
    };
  }

  it("live-migrates a game VM and a video VM: the game one takes longer, stops longer, sends more", async () => {
    const memBefore = await http.data<{ memory: { used: number } }>("/nodes/node1/status");
    const video = await observedLiveMigration(102, "node2");
    const game = await observedLiveMigration(103, "node2");
    for (const m of [video, game]) {
      expect(m.final.exitstatus).toBe("OK");
      expect(m.log.at(-1)).toBe("TASK OK");
      expect(m.after).toMatchObject({ node: "node2", status: "running" });
      expect(m.after?.lock).toBeUndefined();
      expect(m.seen.lockWhileRunning).toBe(true);
      expect(m.seen.flippedWhileRunning).toBe(true);
      expect(m.truth?.status).toBe("ok");
      // The responder was silent for the modelled outage, and a client saw about that.
      const truthOutage = m.truth?.clientOutageMs ?? 0;
      expect(truthOutage).toBeGreaterThan(0);
      expect(Math.abs(m.measuredOutageMs - truthOutage)).toBeLessThan(200 + truthOutage * 0.5);
      // The log states what the ground truth holds.
      const downtime = m.log.map((l) => /downtime (\d+) ms$/.exec(l)).find(Boolean);
      expect(Number(downtime?.[1])).toBe(m.truth?.pveDowntimeMs);
      const sent = m.log.map((l) => /migration completed, transferred (.+) VM-state$/.exec(l)).find(Boolean);
      expect(parseRenderedBytes(sent?.[1] ?? "")).toBeCloseTo(m.truth?.transferredBytes ?? 0, -8);
    }
    const [v, g] = [video.truth, game.truth];
    expect(g?.totalTimeMs).toBeGreaterThan(v?.totalTimeMs ?? 0);
    expect(g?.pveDowntimeMs).toBeGreaterThan(v?.pveDowntimeMs ?? 0);
    expect(g?.transferredBytes).toBeGreaterThan(v?.transferredBytes ?? 0);
    expect(g?.clientOutageMs).toBeGreaterThan(v?.clientOutageMs ?? 0);
    expect(game.log.some((l) => l.includes("auto-increased downtime"))).toBe(true);
    // The moved memory left node1.
    const memAfter = await http.data<{ memory: { used: number } }>("/nodes/node1/status");
    expect(memAfter.memory.used).toBeLessThan(memBefore.memory.used);
    // /lab/migrations serves the same ground truth.
    const served = (await http.raw("GET", "/lab/migrations")).body as { data: { upid: string }[] };
    expect(served.data.map((t) => t.upid)).toEqual(expect.arrayContaining([video.upid, game.upid]));
  });

  it("HA-managed VM: a short hamigrate, then the HA agent's qmigrate as root@pam", async () => {
    const upid = await migrate("node2", 105, { target: "node3", online: 1 });
    expect(upid).toMatch(/^UPID:node2:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:hamigrate:105:evacuate@pve!lab:$/);
    const ha = await waitDone("node2", upid);
    expect(ha).toMatchObject({ exitstatus: "OK", user: "evacuate@pve", tokenid: "lab" });
    expect(await log("node2", upid)).toEqual(["Requesting HA migration for VM 105 to node node3", "TASK OK"]);
    const manager = await http.data<{
      manager_status: { service_status: Record<string, { state: string; target?: string }> };
    }>("/cluster/ha/status/manager_status");
    expect(manager.manager_status.service_status["vm:105"]).toMatchObject({
      state: "migrate",
      target: "node3",
    });
    const qm = await waitFor(async () => {
      const list = await http.data<{ upid: string; type: string; user: string; status?: string }[]>(
        "/nodes/node2/tasks",
        {
          vmid: 105,
          typefilter: "qmigrate",
          source: "all",
        },
      );
      return list[0];
    });
    expect(qm.user).toBe("root@pam");
    const done = await waitDone("node2", qm.upid);
    expect(done.exitstatus).toBe("OK");
    expect((await log("node2", qm.upid))[0]).toBe("task started by HA resource agent");
    expect(await resource(105)).toMatchObject({ node: "node3" });
    const after = await http.data<{
      manager_status: { service_status: Record<string, { state: string; node: string }> };
    }>("/cluster/ha/status/manager_status");
    expect(after.manager_status.service_status["vm:105"]).toMatchObject({ state: "started", node: "node3" });
  });

  it("HA refuses a target that a negative affinity rule excludes", async () => {
    const pre = await http.data<{ not_allowed_nodes: Record<string, unknown> }>(
      "/nodes/node2/qemu/106/migrate",
    );
    expect(pre.not_allowed_nodes.node3).toEqual({
      "blocking-ha-resources": [{ sid: "vm:108", cause: "resource-affinity" }],
    });
    const upid = await migrate("node2", 106, { target: "node3", online: 1 });
    const s = await waitDone("node2", upid);
    expect(s.exitstatus).toBe("command 'ha-manager migrate vm:106 node3' failed: exit code 2");
    expect(await log("node2", upid)).toContain(
      "- resource 'vm:108' on target node 'node3' in negative affinity with resource 'vm:106'",
    );
    expect(await resource(106)).toMatchObject({ node: "node2" });
  });

  it("HA ignores a request that a strict node-affinity rule forbids: no qmigrate follows", async () => {
    lab.cluster.haRules.push({
      rule: "pin-108",
      type: "node-affinity",
      resources: ["vm:108"],
      nodes: ["node3", "node2"],
      strict: true,
    });
    const upid = await migrate("node3", 108, { target: "node1", online: 1 });
    expect((await waitDone("node3", upid)).exitstatus).toBe("OK");
    await new Promise((r) => setTimeout(r, (5000 / TIME_SCALE) * 3));
    const list = await http.data<unknown[]>("/nodes/node3/tasks", {
      vmid: 108,
      typefilter: "qmigrate",
      source: "all",
    });
    expect(list).toEqual([]);
    expect(await resource(108)).toMatchObject({ node: "node3", hastate: "started" });
  });

  it("stopping the task during the RAM phase ends in `migration problems`, the VM stays", async () => {
    const upid = await migrate("node1", 111, { target: "node3", online: 1 });
    await waitFor(async () =>
      (await log("node1", upid)).some((l) => l.includes("migration active")) ? true : undefined,
    );
    expect((await http.del(taskPath("node1", upid))).status).toBe(200);
    const s = await waitDone("node1", upid);
    expect(s.exitstatus).toBe("migration problems");
    const lines = await log("node1", upid);
    expect(lines.at(-1)).toBe("TASK ERROR: migration problems");
    expect(lines.some((l) => l.endsWith("ERROR: online migrate failure - interrupted by signal"))).toBe(true);
    expect(await resource(111)).toMatchObject({ node: "node1", status: "running" });
    expect((await resource(111))?.lock).toBeUndefined();
  });

  it("stopping the task before the RAM phase ends in `migration aborted`", async () => {
    const upid = await migrate("node1", 112, { target: "node3", online: 1 });
    await http.del(taskPath("node1", upid));
    const s = await waitDone("node1", upid);
    expect(s.exitstatus).toBe("migration aborted");
    expect(await resource(112)).toMatchObject({ node: "node1" });
    expect(lab.groundTruth().find((t) => t.upid === upid)?.status).toBe("failed");
  });

  it("an injected failure: problems during the RAM phase, aborted before it", async () => {
    lab.faults.failMigration(113, "problems");
    lab.faults.failMigration(114, "aborted", 1);
    const p = await migrate("node1", 113, { target: "node2", online: 1 });
    const a = await migrate("node1", 114, { target: "node2", online: 1 });
    expect((await waitDone("node1", p)).exitstatus).toBe("migration problems");
    expect((await waitDone("node1", a)).exitstatus).toBe("migration aborted");
    expect(await log("node1", p)).toEqual(
      expect.arrayContaining([expect.stringMatching(/migration status error: failed/)]),
    );
    expect(await resource(113)).toMatchObject({ node: "node1" });
    expect(await resource(114)).toMatchObject({ node: "node1" });
    // That fault was for one attempt only: the next one goes through.
    const again = await migrate("node1", 114, { target: "node2", online: 1 });
    expect((await waitDone("node1", again)).exitstatus).toBe("OK");
  });

  it("an offline target aborts the migration at the ssh check", async () => {
    const id = lab.faults.nodeOffline("node3");
    try {
      const upid = await migrate("node1", 115, { target: "node3", online: 1 });
      expect((await waitDone("node1", upid)).exitstatus).toBe("migration aborted");
      expect(await log("node1", upid)).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/No route to host$/),
          expect.stringMatching(/Can't connect to destination address/),
        ]),
      );
    } finally {
      lab.faults.remove(id);
    }
  });

  it("a local disk needs with-local-disks; with it, the disk is mirrored first", async () => {
    const refused = await migrate("node1", 110, { target: "node2", online: 1 });
    expect((await waitDone("node1", refused)).exitstatus).toBe("migration aborted");
    expect((await log("node1", refused)).join("\n")).toMatch(
      /can't live migrate attached local disks without with-local-disks option/,
    );
    const ok = await migrate("node1", 110, { target: "node2", online: 1, "with-local-disks": 1 });
    expect((await waitDone("node1", ok)).exitstatus).toBe("OK");
    expect(await log("node1", ok)).toContain("all 'mirror' jobs are ready");
    expect(await resource(110)).toMatchObject({ node: "node2" });
  });

  it("LXC restart migration: the container stops, moves, starts on the target", async () => {
    const upid = await migrate("node2", 107, { target: "node1", restart: 1 }, "lxc");
    expect(upid).toContain(":vzmigrate:107:");
    let sawStopped = false;
    await waitFor(async () => {
      const [s, r] = await Promise.all([status("node2", upid), resource(107)]);
      if (r?.status === "stopped") sawStopped = true;
      return s.status === "stopped" ? s : undefined;
    });
    expect(sawStopped).toBe(true);
    expect(await resource(107)).toMatchObject({ node: "node1", status: "running" });
    expect((await log("node2", upid)).at(-1)).toBe("TASK OK");
  });

  it("lists running tasks only with source=active|all, and hides others' tasks without Sys.Audit", async () => {
    const upid = await migrate("node1", 101, { target: "node3", online: 1 });
    const archive = await http.data<{ upid: string }[]>("/nodes/node1/tasks", { vmid: 101 });
    expect(archive.map((t) => t.upid)).not.toContain(upid);
    const active = await http.data<{ upid: string; status: string }[]>("/nodes/node1/tasks", {
      vmid: 101,
      source: "active",
    });
    expect(active).toEqual([expect.objectContaining({ upid, status: "RUNNING" })]);
    await waitDone("node1", upid);
    const after = await http.data<{ upid: string; status: string }[]>("/nodes/node1/tasks", { vmid: 101 });
    expect(after[0]).toMatchObject({ upid, status: "OK" });
    const id = lab.faults.denyPrivilege("Sys.Audit", "/nodes/node2");
    try {
      const mine = await http.data<{ user: string }[]>("/nodes/node2/tasks", { source: "all", limit: 100 });
      expect(mine.every((t) => t.user === "evacuate@pve")).toBe(true);
    } finally {
      lab.faults.remove(id);
    }
  });
});
