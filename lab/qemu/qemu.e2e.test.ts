/**
 * End to end with real QEMU (runs only with PVE_EVACUATE_QEMU_E2E=1, after lab/qemu/setup.sh, as root):
 * the real worker, real Redis and BullMQ, the real proxmox-api client against the lab, whose node1 holds
 * two real QEMU guests (idle and game). `/evacuate node1` live-migrates both for real; PVE's task log
 * carries QEMU's downtime and the prober, pinging the guests from the host through the lab's bridge,
 * measures what a client saw. A client can never see less than QEMU's stop-and-copy.
 */

import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEventLog } from "../../audit/eventLog.ts";
import { followEvacuation } from "../../cli/evacuate.ts";
import { loadConfig } from "../../config/load.ts";
import { createLogger } from "../../lib/logger.ts";
import { createRedis, deleteByPrefix } from "../../lib/redis.ts";
import { planForNode } from "../../planning/planForNode.ts";
import type { HttpPveClient } from "../../proxmox/httpClient.ts";
import { createEvacuationQueue, type EvacuationQueue } from "../../worker/queue.ts";
import { startWorkerRuntime, type WorkerRuntime } from "../../worker/runtime.ts";
import { LabClusterBuilder } from "../generate.ts";
import { labConnectionEnv, labPveClient } from "../labClient.ts";
import { type RunningLab, startLab } from "../server.ts";
import { checkQemuAvailability } from "./availability.ts";

describe("QEMU lab availability", () => {
  it("says what is missing instead of failing, with the way to fix it", () => {
    const a = checkQemuAvailability("/nonexistent/pve-evacuate-qemu");
    expect(a.available).toBe(false);
    if (a.available) return;
    expect(a.reason).toMatch(
      process.getuid?.() === 0 ? /manifest\.json: not set up \(run lab\/qemu\/setup\.sh/ : /root/,
    );
  });
});

if (process.env.PVE_EVACUATE_QEMU_E2E === "1") {
  describe("evacuation with real QEMU live migrations", () => {
    let lab: RunningLab | undefined;
    let pve: HttpPveClient | undefined;
    let redis: Redis | undefined;
    let runtime: WorkerRuntime | undefined;
    let queue: EvacuationQueue | undefined;
    const prefix = `test-qemu-${randomBytes(4).toString("hex")}`;

    beforeAll(async () => {
      const availability = checkQemuAvailability();
      if (!availability.available) throw new Error(`PVE_EVACUATE_QEMU_E2E=1 but ${availability.reason}`);
      const cluster = new LabClusterBuilder({ nodes: 2, seed: 11 })
        .vm(101, { node: "node1", workload: "idle", memoryGiB: 1 })
        .vm(102, { node: "node1", workload: "game", memoryGiB: 1 })
        .build();
      lab = await startLab({ port: 0, cluster, authFailureDelayMs: 0, qemu: { memoryMiB: 128 } });
      pve = labPveClient(lab);
      redis = createRedis("redis://127.0.0.1:6379");
    }, 90_000);

    afterAll(async () => {
      await runtime?.close();
      if (queue) {
        await queue.queue.obliterate({ force: true });
        await queue.close();
      }
      if (redis) {
        await deleteByPrefix(redis, prefix);
        await redis.quit();
      }
      await pve?.close();
      // stops the QEMU processes and removes the namespace, bridge, taps and veth
      await lab?.close();
    }, 60_000);

    it("/evacuate node1 moves both guests live; client-observed downtime ≥ PVE-reported", async () => {
      if (!lab || !pve || !redis) throw new Error("set-up failed");
      const config = loadConfig({
        env: {
          ...labConnectionEnv(lab),
          REDIS_PREFIX: prefix,
          QOS_METHOD: "icmp",
          QOS_BASELINE_MS: "1000",
          QOS_TAIL_MS: "1000",
          MIGRATION_POLL_INTERVAL_MS: "200",
          MIGRATION_HEADROOM_BYTES: "0",
          LOG_LEVEL: "silent",
        },
      });
      const events = createEventLog({ redis, prefix });
      queue = createEvacuationQueue({ redis, prefix, events });
      runtime = startWorkerRuntime({ config, redis, pve, logger: createLogger({ level: "silent" }) });

      const plan = await planForNode(pve, { source: "node1" }, config.migration);
      expect(plan.moves.map((m) => [m.vmid, m.target]).sort()).toEqual([
        [101, "node2"],
        [102, "node2"],
      ]);
      const record = await queue.enqueue({
        source: "node1",
        kind: "evacuate",
        moves: plan.moves,
        requestedBy: { kind: "cli", id: "qemu-e2e" },
      });
      const results = await followEvacuation(queue, record.id, {}, 200);

      expect(results.map((r) => r.status)).toEqual(["succeeded", "succeeded"]);
      const guests = lab.qemu?.guests() ?? [];
      for (const r of results) {
        const pveDowntime = r.pve?.downtimeMs;
        expect(pveDowntime).toBeGreaterThan(0);
        expect(r.qos?.measured).toBe(true);
        if (!r.qos?.measured) continue;
        // the prober really probed the guest's own address, over ICMP
        expect(r.qos.address).toBe(guests.find((g) => g.vmid === r.vmid)?.address);
        expect(r.qos.observedDowntimeMs).toBeGreaterThanOrEqual(pveDowntime ?? Number.POSITIVE_INFINITY);
      }
      const resources = await pve.clusterResources("vm");
      for (const vmid of [101, 102]) expect(resources.find((r) => r.vmid === vmid)?.node).toBe("node2");
      // what QEMU said is what PVE's log said
      for (const t of lab.groundTruth()) {
        expect(t.status).toBe("ok");
        expect(results.find((r) => r.vmid === t.vmid)?.pve?.downtimeMs).toBe(t.pveDowntimeMs);
      }
    }, 240_000);
  });
}
