import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEventLog } from "../audit/eventLog.ts";
import type { CommandDeps } from "../commands/command.ts";
import { createCommandDeps } from "../commands/deps.ts";
import { loadConfig } from "../config/load.ts";
import { ErrorCodes } from "../lib/errors.ts";
import { createLogger } from "../lib/logger.ts";
import { createRedis, deleteByPrefix } from "../lib/redis.ts";
import { buildClusterData } from "../planning/fixtures/build.ts";
import { fakePveClient } from "../planning/fixtures/fakeClient.ts";
import { createEvacuationQueue, type EvacuationQueue } from "../worker/queue.ts";
import { runConsoleCommand } from "./runConsoleCommand.ts";

const prefix = `test-console-${randomBytes(4).toString("hex")}`;
let redis: Redis;
let queue: EvacuationQueue;
let deps: CommandDeps;
const user = { id: "ops", name: "ops", roles: [] };

beforeAll(() => {
  redis = createRedis("redis://127.0.0.1:6379");
  const events = createEventLog({ redis, prefix });
  queue = createEvacuationQueue({ redis, prefix, events });
  const pve = fakePveClient(
    buildClusterData({
      nodes: [
        { name: "node1", memGiB: 64, usedGiB: 20 },
        { name: "node2", memGiB: 64, usedGiB: 10 },
      ],
      guests: [
        { vmid: 101, node: "node1", name: "web", memMiB: 2048 },
        { vmid: 102, node: "node1", name: "db", memMiB: 4096 },
        { vmid: 201, node: "node2", name: "mq", memMiB: 1024 },
      ],
    }),
  );
  const config = loadConfig({ env: { REDIS_PREFIX: prefix, MIGRATION_HEADROOM_BYTES: "0" } });
  deps = createCommandDeps({ config, redis, pve, events, queue, logger: createLogger({ level: "silent" }) });
});

afterAll(async () => {
  await queue.queue.obliterate({ force: true });
  await queue.close();
  await deleteByPrefix(redis, prefix);
  await redis.quit();
});

describe("runConsoleCommand", () => {
  it("follows what it queued: progress, one result card per VM with its chart saved, the summary", async () => {
    const dir = mkdtempSync(join(tmpdir(), "console-charts-"));
    let text = "";
    // Stands in for the worker: records each VM's result once the jobs are queued.
    const worker = (async () => {
      for (let i = 0; i < 200; i++) {
        const [open] = await queue.store.open();
        if (open) {
          await redis.set(`${prefix}:chart:test`, Buffer.from([137, 80, 78, 71]));
          for (const vmid of open.vmids)
            await queue.store.recordResult(open.id, {
              vmid,
              name: `vm${vmid}`,
              source: "node1",
              target: "node2",
              status: "succeeded",
              pve: { status: "completed", durationMs: 4000, downtimeMs: 40 },
              qos: {
                measured: true,
                method: "tcp",
                address: "10.0.0.9:22",
                observedDowntimeMs: 90,
                report: {},
                chartKey: `${prefix}:chart:test`,
              },
            });
          return open.id;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      return undefined;
    })();
    const run = await runConsoleCommand(
      "evacuate",
      { node: "node1" },
      {
        deps,
        user,
        autoConfirm: true,
        pollMs: 20,
        write: (t) => (text += t),
        readChart: async (key) => (await redis.getBuffer(key)) ?? undefined,
        chartDir: dir,
      },
    );
    expect(run.outcome?.evacuationIds).toEqual([await worker]);
    expect(run.results.map((r) => r.vmid).sort()).toEqual([101, 102]);
    expect(text).toContain("\n✅ VM 101 (vm101) node1 → node2: moved\n");
    expect(text).toContain("  PVE downtime: 40 ms\n  Client-observed downtime: 90 ms\n");
    expect(text).toContain(`Chart saved to ${join(dir, "chart-101.png")}`);
    expect(readFileSync(join(dir, "chart-102.png"))).toEqual(Buffer.from([137, 80, 78, 71]));
    expect(text).toMatch(/✔ Evacuation of node1 completed: 2 moved\n/);
    rmSync(dir, { recursive: true });
  });

  it("prints the plan, takes Confirm when told to, and queues the moves in order", async () => {
    let text = "";
    const run = await runConsoleCommand(
      "evacuate",
      { node: "node1" },
      { deps, user, autoConfirm: true, follow: false, write: (t) => (text += t) },
    );
    expect(text).toContain("ℹ Evacuation plan for node1\n");
    expect(text).toContain("  1. VM 101 web (qemu, 2.0 GiB) node1 → node2, live\n");
    expect(text).toContain("  [1] Confirm  [2] Cancel\n");
    expect(text).toMatch(/✔ Evacuation plan for node1\n[\s\S]*— Confirmed by ops: queued as ev/);
    expect(text).toContain("Queued 2 migration(s)");
    expect(run.outcome?.evacuationIds).toHaveLength(1);
    const id = run.outcome?.evacuationIds?.[0] as string;
    const waiting = (await queue.queue.getJobs(["waiting"])).filter((j) => j.data.evacuationId === id);
    expect(waiting.map((j) => [j.data.vmid, j.data.target, j.data.requestedBy.kind]).sort()).toEqual([
      [101, "node2", "cli"],
      [102, "node2", "cli"],
    ]);

    let status = "";
    await runConsoleCommand(
      "evacuation",
      { subcommand: "status" },
      { deps, user, write: (t) => (status += t) },
    );
    expect(status).toContain("ℹ 1 evacuation(s) running\n");
    expect(status).toContain(`Evacuation of node1 (${id}), 0/2 done:`);
    let cancelled = "";
    await runConsoleCommand(
      "evacuation",
      { subcommand: "cancel", id },
      { deps, user, write: (t) => (cancelled += t) },
    );
    expect(cancelled).toContain(`! Evacuation ${id} cancelled\n`);
    expect(cancelled).toMatch(/Removed from the queue: VM 10[12], VM 10[12]\./);
  });

  it("asks which button, and a Cancel queues nothing", async () => {
    let text = "";
    let offered: string[] = [];
    const run = await runConsoleCommand(
      "migrate",
      { vm: "201", target: "node1" },
      {
        deps,
        user,
        follow: false,
        write: (t) => (text += t),
        choose: async (buttons) => {
          offered = buttons.map((b) => b.label);
          return buttons.find((b) => b.label === "Cancel");
        },
      },
    );
    expect(offered).toEqual(["Confirm", "Cancel"]);
    expect(text).toContain("Migration plan: VM 201 → node1");
    expect(text).toContain("— Cancelled by ops: nothing was queued.");
    expect(run.outcome).toBeUndefined();
  });

  it("answers plainly for a dry run, a bad option and an unknown command", async () => {
    let text = "";
    await runConsoleCommand(
      "evacuate",
      { node: "node2", dry_run: true },
      { deps, user, write: (t) => (text += t) },
    );
    expect(text).toContain("— Dry run: nothing will be queued. Requested by ops.");
    expect(text).not.toContain("[1] Confirm");
    await expect(
      runConsoleCommand("evacuate", { node: "node 1!" }, { deps, user, write: () => {} }),
    ).rejects.toThrow("/evacuate: option node: a node name has letters, digits, '.' and '-' only.");
    await expect(runConsoleCommand("reboot", {}, { deps, user, write: () => {} })).rejects.toMatchObject({
      code: ErrorCodes.InvalidInput,
      message: expect.stringContaining("Commands: evacuate, migrate, evacuation, return, audit, nodes"),
    });
  });
});
