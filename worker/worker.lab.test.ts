/**
 * The worker end to end: real Redis, BullMQ, the real proxmox-api client over HTTPS against the lab,
 * real probes against the lab's responders. The last test kills a worker process with SIGKILL
 * mid-migration and checks that the next worker adopts the task instead of migrating again.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createEventLog } from "../audit/eventLog.ts";
import { followEvacuation } from "../cli/evacuate.ts";
import { loadConfig } from "../config/load.ts";
import type { AppConfig } from "../config/schema.ts";
import { LabClusterBuilder } from "../lab/generate.ts";
import { labConnectionEnv, labPveClient } from "../lab/labClient.ts";
import { type RunningLab, startLab } from "../lab/server.ts";
import { ErrorCodes } from "../lib/errors.ts";
import { createLogger } from "../lib/logger.ts";
import { createRedis, deleteByPrefix } from "../lib/redis.ts";
import { planForNode } from "../planning/planForNode.ts";
import type { HttpPveClient } from "../proxmox/httpClient.ts";
import { createEvacuationQueue, type EvacuationQueue } from "./queue.ts";
import { startWorkerRuntime, type WorkerRuntime } from "./runtime.ts";

const TIME_SCALE = 40;
const actor = { kind: "cli" as const, id: "tester" };
const silent = createLogger({ level: "silent" });

let lab: RunningLab;
let pve: HttpPveClient;
let redis: Redis;
const runtimes: WorkerRuntime[] = [];
const queues: EvacuationQueue[] = [];
const prefixes: string[] = [];

function labEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...labConnectionEnv(lab),
    QOS_ALLOW_LOOPBACK: "1",
    QOS_BASELINE_MS: "300",
    QOS_TAIL_MS: "300",
    MIGRATION_POLL_INTERVAL_MS: "100",
    MIGRATION_HEADROOM_BYTES: "0",
    LOG_LEVEL: "silent",
    ...extra,
  };
}

/** The worker stores a result before it logs it: wait for the evacuation's last event. */
async function finishedLog(events: ReturnType<typeof createEventLog>, evacuationId: string) {
  for (let i = 0; i < 100; i++) {
    const log = await events.read({ evacuationId });
    if (log.at(-1)?.event.type === "evacuation.finished") return log;
    await new Promise((r) => setTimeout(r, 50));
  }
  return events.read({ evacuationId });
}

function setup(extra: Record<string, string> = {}, startWorker = true) {
  const prefix = `test-worker-${randomBytes(4).toString("hex")}`;
  prefixes.push(prefix);
  const config: AppConfig = loadConfig({ env: labEnv({ REDIS_PREFIX: prefix, ...extra }) });
  const events = createEventLog({ redis, prefix });
  const queue = createEvacuationQueue({ redis, prefix, events });
  queues.push(queue);
  const runtime = startWorker
    ? startWorkerRuntime({
        config,
        redis,
        pve,
        logger: silent,
        policy: { stalledIntervalMs: 2000, lockTtlMs: 2000 },
      })
    : undefined;
  if (runtime) runtimes.push(runtime);
  return { config, events, queue, runtime, prefix };
}

beforeAll(async () => {
  const cluster = new LabClusterBuilder({ nodes: 4, seed: 7 })
    .vm(101, { node: "node1", workload: "idle", memoryGiB: 2 })
    .vm(102, { node: "node1", workload: "video", memoryGiB: 4 })
    .vm(103, { node: "node1", workload: "game", memoryGiB: 8 })
    .vm(104, { node: "node1", workload: "idle", hostpci: ["0000:01:00.0"] })
    .vm(201, { node: "node2", workload: "idle", memoryGiB: 2 })
    .vm(202, { node: "node2", workload: "video", memoryGiB: 2 })
    .vm(301, { node: "node3", workload: "game", memoryGiB: 8 })
    .vm(401, { node: "node4", workload: "game", memoryGiB: 32 })
    .vm(402, { node: "node4", workload: "idle", memoryGiB: 1 })
    .build();
  lab = await startLab({ port: 0, cluster, timeScale: TIME_SCALE, authFailureDelayMs: 0 });
  pve = labPveClient(lab);
  redis = createRedis("redis://127.0.0.1:6379");
});

afterEach(async () => {
  for (const r of runtimes.splice(0)) await r.close();
  for (const q of queues.splice(0)) {
    await q.queue.obliterate({ force: true });
    await q.close();
  }
});

afterAll(async () => {
  for (const p of prefixes) {
    await deleteByPrefix(redis, p);
  }
  await redis.quit();
  await pve.close();
  await lab.close();
});

describe("worker against the lab", () => {
  it("evacuates a node one VM at a time, measured, audited and verifiable", async () => {
    const { config, events, queue } = setup();
    const plan = await planForNode(pve, { source: "node1" }, config.migration);
    expect(plan.moves.map((m) => m.vmid)).toEqual([101, 102, 103]);
    expect(plan.blocked.map((b) => b.vmid)).toEqual([104]);

    const record = await queue.enqueue({
      source: "node1",
      kind: "evacuate",
      moves: plan.moves,
      requestedBy: actor,
    });
    const results = await followEvacuation(queue, record.id, {}, 100);

    expect(results.map((r) => [r.vmid, r.status])).toEqual([
      [101, "succeeded"],
      [102, "succeeded"],
      [103, "succeeded"],
    ]);
    for (const r of results) {
      expect(r.pve?.downtimeMs).toBeGreaterThan(0);
      expect(r.qos?.measured).toBe(true);
      if (!r.qos?.measured) continue;
      // Clients feel the QEMU downtime plus the target's resume: never less than PVE reports.
      expect(r.qos.observedDowntimeMs).toBeGreaterThanOrEqual(r.pve?.downtimeMs ?? 0);
    }
    const resources = await pve.clusterResources("vm");
    for (const m of plan.moves) expect(resources.find((r) => r.vmid === m.vmid)?.node).toBe(m.target);

    // One at a time: no two lab migrations overlapped.
    const truths = lab.groundTruth().filter((t) => plan.moves.some((m) => m.vmid === t.vmid));
    expect(truths).toHaveLength(3);
    const tasks = await pve.nodeTasks("node1", { typefilter: "qmigrate", source: "all" });
    const spans = tasks
      .filter((t) => plan.moves.some((m) => String(m.vmid) === t.id))
      .map((t) => [t.starttime, t.endtime ?? Number.POSITIVE_INFINITY] as const)
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++)
      expect(spans[i]?.[0]).toBeGreaterThanOrEqual(spans[i - 1]?.[1] ?? 0);

    expect((await queue.store.get(record.id))?.status).toBe("finished");
    const log = await finishedLog(events, record.id);
    expect(log.filter((e) => e.event.type === "migration.result")).toHaveLength(3);
    expect(log.at(-1)?.event).toMatchObject({ type: "evacuation.finished", status: "completed" });
    expect((await events.verify()).ok).toBe(true);
  });

  it("refuses a second evacuation of a node that is being evacuated", async () => {
    const { queue } = setup({}, false);
    const move = {
      vmid: 201,
      name: "a",
      type: "qemu" as const,
      target: "node3",
      memoryBytes: 1,
      mode: "live" as const,
      withLocalDisks: false,
    };
    const first = await queue.enqueue({
      source: "node2",
      kind: "evacuate",
      moves: [move],
      requestedBy: actor,
    });
    await expect(
      queue.enqueue({ source: "node2", kind: "evacuate", moves: [move], requestedBy: actor }),
    ).rejects.toMatchObject({
      code: ErrorCodes.EvacuationInProgress,
      message: expect.stringContaining(first.id),
    });
    const cancelled = await queue.cancel({ abortRunning: false, by: actor, pve });
    expect(cancelled.removed).toEqual([201]);
    expect((await queue.store.get(first.id))?.status).toBe("cancelled");
  });

  it("stops the evacuation after a failed migration, leaving the VM on its node", async () => {
    const { queue } = setup();
    const id = lab.faults.failMigration(201, "problems");
    try {
      // The first test moved node1's VMs here too; this evacuation is about node2's own two.
      const plan = await planForNode(pve, { source: "node2" }, loadConfig({ env: labEnv() }).migration);
      const moves = plan.moves.filter((m) => m.vmid === 201 || m.vmid === 202);
      expect(moves.map((m) => m.vmid)).toEqual([201, 202]);
      const record = await queue.enqueue({
        source: "node2",
        kind: "evacuate",
        moves,
        requestedBy: actor,
      });
      const results = await followEvacuation(queue, record.id, {}, 100);
      expect(results.map((r) => [r.vmid, r.status])).toEqual([
        [201, "failed"],
        [202, "skipped"],
      ]);
      expect(results[0]?.error).toContain("VM 201 is still on node2");
      const stored = await queue.store.get(record.id);
      expect(stored).toMatchObject({ status: "stopped" });
      expect(stored?.stopReason).toContain("VM 201");
      const resources = await pve.clusterResources("vm");
      expect(resources.find((r) => r.vmid === 201)?.node).toBe("node2");
      expect(resources.find((r) => r.vmid === 202)?.node).toBe("node2");
    } finally {
      lab.faults.remove(id);
    }
  });

  it("cancel --abort-running stops the running PVE task and drops the rest; the VM stays", async () => {
    const { queue, events } = setup({ QOS_METHOD: "none" });
    const moves = [
      {
        vmid: 401,
        name: "game-401",
        type: "qemu" as const,
        target: "node2",
        memoryBytes: 32 * 1024 ** 3,
        mode: "live" as const,
        withLocalDisks: false,
      },
      {
        vmid: 402,
        name: "idle-402",
        type: "qemu" as const,
        target: "node2",
        memoryBytes: 1024 ** 3,
        mode: "live" as const,
        withLocalDisks: false,
      },
    ];
    const record = await queue.enqueue({ source: "node4", kind: "evacuate", moves, requestedBy: actor });
    let upid: string | undefined;
    for (let i = 0; i < 200 && !upid; i++) {
      await new Promise((r) => setTimeout(r, 25));
      upid = (await queue.queue.getJob(`${record.id}-401`))?.data.upid;
    }
    expect(upid).toBeDefined();
    const outcome = await queue.cancel({ abortRunning: true, by: actor, pve });
    expect(outcome).toMatchObject({ evacuationId: record.id, removed: [402], aborted: { vmid: 401, upid } });

    const results = await followEvacuation(queue, record.id, {}, 100);
    expect(results.map((r) => [r.vmid, r.status]).sort()).toEqual([
      [401, "cancelled"],
      [402, "cancelled"],
    ]);
    const vms = await pve.clusterResources("vm");
    expect(vms.find((r) => r.vmid === 401)).toMatchObject({ node: "node4", status: "running" });
    expect((await queue.store.get(record.id))?.status).toBe("cancelled");
    const log = await finishedLog(events, record.id);
    expect(log.some((e) => e.event.type === "evacuation.cancelled")).toBe(true);
    expect(log.at(-1)?.event).toMatchObject({ type: "evacuation.finished", status: "cancelled" });
  });

  it("after kill -9 mid-migration, the next worker adopts the task: one migration, true outcome", async () => {
    const { queue, prefix } = setup({}, false);
    const move = {
      vmid: 301,
      name: "game-301",
      type: "qemu" as const,
      target: "node1",
      memoryBytes: 8 * 1024 ** 3,
      mode: "live" as const,
      withLocalDisks: false,
    };
    const env = {
      ...process.env,
      ...labEnv({ REDIS_PREFIX: prefix, MIGRATION_LOCK_TTL_MS: "2000", QOS_METHOD: "none" }),
    };
    const child: ChildProcess = spawn(process.execPath, ["bin/pve-evacuate.js", "worker"], {
      env,
      stdio: "ignore",
    });
    try {
      const record = await queue.enqueue({
        source: "node3",
        kind: "evacuate",
        moves: [move],
        requestedBy: actor,
      });
      const jobId = `${record.id}-301`;
      // Wait until the child saved the UPID: PVE is migrating the VM now.
      let upid: string | undefined;
      for (let i = 0; i < 300 && !upid; i++) {
        await new Promise((r) => setTimeout(r, 50));
        upid = (await queue.queue.getJob(jobId))?.data.upid;
      }
      expect(upid).toMatch(/:qmigrate:301:/);
      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));

      const runtime = startWorkerRuntime({
        config: loadConfig({ env: labEnv({ REDIS_PREFIX: prefix, QOS_METHOD: "none" }) }),
        redis,
        pve,
        logger: silent,
        policy: { stalledIntervalMs: 2000, lockTtlMs: 2000 },
      });
      runtimes.push(runtime);
      const [result] = await followEvacuation(queue, record.id, {}, 100);
      expect(result).toMatchObject({ vmid: 301, status: "succeeded", upid, adopted: true });
      expect(result?.pve?.downtimeMs).toBeGreaterThan(0);
      expect(lab.groundTruth().filter((t) => t.vmid === 301)).toHaveLength(1);
      expect((await pve.clusterResources("vm")).find((r) => r.vmid === 301)?.node).toBe("node1");
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  }, 60_000);
});
