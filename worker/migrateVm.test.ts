import { describe, expect, it } from "vitest";
import { ErrorCodes, PveApiError } from "../lib/errors.ts";
import type { PveClient, StartMigrationRequest } from "../proxmox/port.ts";
import type { ClusterResource, TaskListEntry, TaskStatus } from "../proxmox/schemas.ts";
import { formatUpid } from "../proxmox/upid.ts";
import type { MigrationJobData } from "./jobData.ts";
import { type MigrateVmDeps, migrateVm, type TaskFigures } from "./migrateVm.ts";

const T0 = 1_700_000_000;
const upidOf = (type: string, node = "node1", start = T0 + 10) =>
  formatUpid({ node, pid: 4242, pstart: 1, starttime: start, type, id: "101", user: "evac@pve!bot" });

/** A scripted PVE: one VM, tasks that finish after a number of status polls. */
function fakePve(opts: {
  ha?: boolean;
  failMigration?: boolean;
  postError?: PveApiError;
  running?: TaskListEntry[];
}) {
  const posts: StartMigrationRequest[] = [];
  const vm: ClusterResource = { id: "qemu/101", type: "qemu", vmid: 101, node: "node1", status: "running" };
  const tasks = new Map<string, { polls: number; exit: string; log: string[] }>();
  let lastStarted: string | undefined;
  const client: PveClient = {
    clusterResources: async () => [{ ...vm }],
    clusterStatus: async () => [],
    nodeStatus: async () => ({ cpu: 0, memory: { total: 1, used: 0, free: 1 } }),
    guestConfig: async () => ({}),
    migratePrecondition: async () => ({ running: true }),
    startMigration: async (req) => {
      posts.push(req);
      if (opts.postError) throw opts.postError;
      if (opts.ha) {
        const ha = upidOf("hamigrate");
        tasks.set(ha, {
          polls: 1,
          exit: "OK",
          log: ["Requesting HA migration for VM 101 to node node2", "TASK OK"],
        });
        const q = upidOf("qmigrate", "node1", T0 + 11);
        tasks.set(q, { polls: 2, exit: "OK", log: ["task started by HA resource agent", "TASK OK"] });
        lastStarted = q;
        return ha;
      }
      const u = upidOf("qmigrate");
      tasks.set(u, {
        polls: 2,
        exit: opts.failMigration ? "migration problems" : "OK",
        log: opts.failMigration
          ? ["ERROR: online migrate failure", "TASK ERROR: migration problems"]
          : ["TASK OK"],
      });
      lastStarted = u;
      return u;
    },
    taskStatus: async (node, upid) => {
      const t = tasks.get(upid);
      if (!t) throw new Error(`unknown task ${upid}`);
      t.polls--;
      const done = t.polls <= 0;
      if (done && upid === lastStarted && t.exit === "OK") vm.node = "node2";
      const s: TaskStatus = {
        upid,
        node,
        pid: 1,
        pstart: 1,
        starttime: T0,
        type: "qmigrate",
        id: "101",
        user: "x",
        status: done ? "stopped" : "running",
        ...(done ? { exitstatus: t.exit } : {}),
      };
      return s;
    },
    taskLog: async (_node, upid, page) => {
      const log = tasks.get(upid)?.log ?? [];
      const start = page?.start ?? 0;
      const lines = log
        .slice(start, page?.limit ? start + page.limit : undefined)
        .map((t, i) => ({ n: start + i + 1, t }));
      return { lines, total: log.length };
    },
    nodeTasks: async () => {
      const listed: TaskListEntry[] = [...(opts.running ?? [])];
      if (lastStarted && opts.ha) {
        listed.push({
          upid: lastStarted,
          node: "node1",
          pid: 1,
          pstart: 1,
          starttime: T0 + 11,
          type: "qmigrate",
          id: "101",
          user: "root@pam",
        });
      }
      return listed;
    },
    stopTask: async () => {},
    agentNetworkInterfaces: async () => [],
    haStatusCurrent: async () => [],
    haManagerStatus: async () => ({}),
    haRules: async () => [],
  };
  return { client, posts, vm };
}

const job: MigrationJobData = {
  evacuationId: "e1",
  vmid: 101,
  name: "web",
  type: "qemu",
  source: "node1",
  target: "node2",
  mode: "live",
  memoryBytes: 1024,
  order: 0,
  of: 1,
  withLocalDisks: false,
  requestedBy: { kind: "cli", id: "root" },
  step: "queued",
};

const figures = (lines: string[]): TaskFigures => ({
  status: lines.includes("TASK OK")
    ? "completed"
    : lines.some((l) => l.startsWith("TASK ERROR"))
      ? "failed"
      : "running",
  ...(lines.some((l) => l.includes("online migrate failure")) ? { error: "online migrate failure" } : {}),
});

function deps(pve: PveClient, over: Partial<MigrateVmDeps> = {}) {
  const persisted: Partial<MigrationJobData>[] = [];
  const states: string[] = [];
  let clock = T0 * 1000;
  const d: MigrateVmDeps = {
    pve,
    preCheck: async () => [{ name: "vm-running", status: "pass", reason: "running on node1" }],
    qos: { start: async () => ({ notMeasured: "test" }) },
    parseTaskLog: figures,
    persist: async (p) => {
      persisted.push(p);
    },
    onState: async (_f, to) => {
      states.push(to);
    },
    onProgress: () => {},
    shouldStop: async () => undefined,
    sleep: async (ms) => {
      clock += ms;
    },
    now: () => clock,
    policy: { pollIntervalMs: 10, baselineMs: 10, tailMs: 10, haTaskTimeoutMs: 1000 },
    ...over,
  };
  return { d, persisted, states };
}

describe("migrateVm", () => {
  it("migrates, saving the UPID right after PVE accepted the call", async () => {
    const pve = fakePve({});
    const { d, persisted, states } = deps(pve.client);
    const r = await migrateVm(job, d);
    expect(r.status).toBe("succeeded");
    expect(pve.posts).toEqual([{ node: "node1", type: "qemu", vmid: 101, target: "node2", online: true }]);
    const upidSaved = persisted.findIndex((p) => p.upid !== undefined);
    expect(persisted[upidSaved]).toMatchObject({ step: "migrating", upid: r.upid });
    expect(states).toEqual([
      "prechecking",
      "baseline",
      "requesting",
      "migrating",
      "finishing",
      "verifying",
      "succeeded",
    ]);
  });

  it("never POSTs when a pre-check fails", async () => {
    const pve = fakePve({});
    const { d } = deps(pve.client, {
      preCheck: async () => [{ name: "not-locked", status: "fail", reason: "VM is locked (backup)" }],
    });
    const r = await migrateVm(job, d);
    expect(r).toMatchObject({ status: "blocked", error: "not-locked: VM is locked (backup)" });
    expect(pve.posts).toHaveLength(0);
  });

  it("reports a failed task with the VM still on the source", async () => {
    const pve = fakePve({ failMigration: true });
    const r = await migrateVm(job, deps(pve.client).d);
    expect(r.status).toBe("failed");
    expect(r.error).toBe("online migrate failure; VM 101 is still on node1");
  });

  it("shows PVE's refusal of the POST and does not retry it", async () => {
    const err = new PveApiError({
      method: "POST",
      path: "/nodes/node1/qemu/101/migrate",
      status: 500,
      pveMessage: "VM is locked (backup)",
    });
    const pve = fakePve({ postError: err });
    const r = await migrateVm(job, deps(pve.client).d);
    expect(r.status).toBe("failed");
    expect(r.error).toContain("VM is locked (backup)");
    expect(pve.posts).toHaveLength(1);
  });

  it("follows an HA guest's hamigrate to the real qmigrate", async () => {
    const pve = fakePve({ ha: true });
    const { d, persisted } = deps(pve.client);
    const r = await migrateVm(job, d);
    expect(r.status).toBe("succeeded");
    expect(r.upid).toContain(":qmigrate:");
    expect(persisted.some((p) => p.haUpid?.includes(":hamigrate:"))).toBe(true);
  });

  it("after a crash, adopts the running task instead of migrating again", async () => {
    const pve = fakePve({});
    // First run got as far as POST: the task exists, the job's saved step is 'requesting' without a UPID.
    const upid = await pve.client.startMigration({
      node: "node1",
      type: "qemu",
      vmid: 101,
      target: "node2",
      online: true,
    });
    pve.client.nodeTasks = async () => [
      {
        upid,
        node: "node1",
        pid: 1,
        pstart: 1,
        starttime: T0 + 10,
        type: "qmigrate",
        id: "101",
        user: "evac@pve!bot",
      },
    ];
    const r = await migrateVm(
      { ...job, step: "requesting", requestedAtEpochMs: T0 * 1000 },
      deps(pve.client).d,
    );
    expect(r).toMatchObject({ status: "succeeded", upid, adopted: true });
    expect(pve.posts).toHaveLength(1);
  });

  it("skips without touching PVE when the evacuation was stopped", async () => {
    const pve = fakePve({});
    const r = await migrateVm(
      job,
      deps(pve.client, { shouldStop: async () => "VM 100 failed; evacuation stopped" }).d,
    );
    expect(r).toMatchObject({ status: "skipped", error: "VM 100 failed; evacuation stopped" });
    expect(pve.posts).toHaveLength(0);
  });

  it("a job saved in a final step (worker died before reporting) reports it and never asks PVE again", async () => {
    const pve = fakePve({});
    const r = await migrateVm({ ...job, step: "failed", upid: "UPID:x" }, deps(pve.client).d);
    expect(r).toMatchObject({ status: "failed", upid: "UPID:x" });
    expect(pve.posts).toHaveLength(0);
  });

  it("a migrate lock without a task blocks a job saved in any step before the request", async () => {
    const pve = fakePve({});
    pve.vm.lock = "migrate";
    const { d, states } = deps(pve.client);
    const r = await migrateVm({ ...job, step: "baseline" }, d);
    expect(r.status).toBe("blocked");
    expect(r.error).toContain("locked (migrate)");
    expect(states).toEqual(["blocked"]);
    expect(pve.posts).toHaveLength(0);
  });

  it("a migrate POST that may have reached PVE is followed, not reported failed", async () => {
    const pve = fakePve({});
    const start = pve.client.startMigration;
    let started: string | undefined;
    pve.client.startMigration = async (req) => {
      started = await start(req);
      throw new PveApiError(
        { method: "POST", path: "/nodes/node1/qemu/101/migrate", pveMessage: "timeout" },
        ErrorCodes.MigrateNotRetried,
      );
    };
    pve.client.nodeTasks = async () =>
      started
        ? [
            {
              upid: started,
              node: "node1",
              pid: 1,
              pstart: 1,
              starttime: T0 + 10,
              type: "qmigrate",
              id: "101",
              user: "evac@pve!bot",
            },
          ]
        : [];
    const r = await migrateVm(job, deps(pve.client).d);
    expect(r).toMatchObject({ status: "succeeded", upid: started });
    expect(pve.posts).toHaveLength(1);
  });

  it("stops the probe thread when an error escapes", async () => {
    const pve = fakePve({});
    let finished = 0;
    pve.client.taskStatus = async () => {
      throw new Error("bug");
    };
    const { d } = deps(pve.client, {
      qos: {
        start: async () => ({
          markMigrationStart: () => {},
          markMigrationEnd: () => {},
          finish: async () => {
            finished++;
            return { measured: false, reason: "stopped" };
          },
        }),
      },
    });
    await expect(migrateVm(job, d)).rejects.toThrow("bug");
    expect(finished).toBe(1);
  });
});
