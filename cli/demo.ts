/**
 * `pve-evacuate demo` (npm run demo): the whole flow on the lab, nothing else needed but Redis.
 * Starts a 3-node lab (idle, video and game VMs plus one with PCI passthrough on node1), a worker,
 * and evacuates node1 — plan, confirmation, live progress, one result card per VM, the summary, the
 * audit chain check — and writes each VM's RTT timeline chart to a folder.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { createEventLog } from "../audit/eventLog.ts";
import { loadConfig } from "../config/load.ts";
import { LabClusterBuilder } from "../lab/generate.ts";
import { startLab } from "../lab/server.ts";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import { createLogger } from "../lib/logger.ts";
import { createRedis, describeRedisUrl } from "../lib/redis.ts";
import { Secret } from "../lib/secret.ts";
import { planForNode } from "../planning/planForNode.ts";
import { createHttpPveClient } from "../proxmox/httpClient.ts";
import { createEvacuationQueue } from "../worker/queue.ts";
import { formatResult, summarize } from "../worker/resultSummary.ts";
import { startWorkerRuntime } from "../worker/runtime.ts";
import { followEvacuation } from "./evacuate.ts";
import { formatPlanText } from "./plan.ts";
import { errorOutputOf, outputOf, type Register } from "./program.ts";

const Options = z.object({
  charts: z.string().min(1),
  timeScale: z.coerce.number().positive(),
});

export function demoCluster() {
  return new LabClusterBuilder({ nodes: 3, seed: 42 })
    .vm(101, { node: "node1", name: "idle-101", workload: "idle", memoryGiB: 2 })
    .vm(102, { node: "node1", name: "video-102", workload: "video", memoryGiB: 4 })
    .vm(103, { node: "node1", name: "game-103", workload: "game", memoryGiB: 8 })
    .vm(104, { node: "node1", name: "gpu-104", workload: "idle", memoryGiB: 4, hostpci: ["0000:41:00.0"] })
    .vm(105, { node: "node1", name: "stopped-105", status: "stopped", memoryGiB: 2 })
    .vm(201, { node: "node2", name: "db-201", workload: "video", memoryGiB: 16 })
    .vm(301, { node: "node3", name: "web-301", workload: "idle", memoryGiB: 8 })
    .build();
}

export const register: Register = (program) => {
  program
    .command("demo")
    .description(
      "Run the whole flow on a local lab cluster: plan, confirm, migrate one at a time, results, charts.",
    )
    .option("--charts <dir>", "folder for the RTT timeline charts", "demo-charts")
    .option("--time-scale <n>", "lab speed-up of the bulk transfer (outages stay real-time)", "10")
    .action(async (raw: unknown, command: Command) => {
      const opts = Options.parse(raw);
      const out = outputOf(command);
      const err = errorOutputOf(command);
      const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
      const redis = createRedis(redisUrl);
      try {
        await redis.ping();
      } catch {
        redis.disconnect();
        throw new UserError(
          ErrorCodes.RedisUnreachable,
          `The demo needs Redis and none answers at ${describeRedisUrl(redisUrl)}.`,
          "Start one (e.g. `redis-server` or `docker run -p 6379:6379 redis:7`) or set REDIS_URL.",
        );
      }
      const lab = await startLab({
        port: 0,
        cluster: demoCluster(),
        timeScale: opts.timeScale,
        authFailureDelayMs: 0,
      });
      const prefix = `pve-evacuate-demo-${randomBytes(3).toString("hex")}`;
      const config = loadConfig({
        env: {
          REDIS_URL: redisUrl,
          REDIS_PREFIX: prefix,
          QOS_ALLOW_LOOPBACK: "1",
          QOS_BASELINE_MS: "1000",
          QOS_TAIL_MS: "1000",
          MIGRATION_POLL_INTERVAL_MS: "250",
        },
      });
      const pve = createHttpPveClient({
        host: lab.host,
        port: lab.port,
        tokenId: lab.tokenId,
        tokenSecret: new Secret(lab.tokenSecret),
        fingerprint: lab.fingerprint,
        timeoutMs: 10_000,
        retries: 2,
      });
      const events = createEventLog({ redis, prefix });
      const runtime = startWorkerRuntime({ config, redis, pve, logger: createLogger({ level: "warn" }) });
      const queue = createEvacuationQueue({ redis, prefix, events });
      const actor = { kind: "cli" as const, id: "demo", name: "demo operator" };
      try {
        out(
          `Lab cluster at ${lab.url} (3 nodes, token ${lab.tokenId}, fingerprint ${lab.fingerprint.slice(0, 23)}…)\n`,
        );
        out(`> /evacuate node:node1\n\n`);
        const plan = await planForNode(pve, { source: "node1" }, config.migration);
        await events.append({
          type: "evacuation.requested",
          actor,
          node: "node1",
          mode: "evacuate",
          source: "node1",
          options: {},
        });
        await events.append({ type: "plan.created", actor, node: "node1", plan });
        out(`${formatPlanText(plan, lab.url)}\n`);
        out(`> [Confirm] (demo confirms for you)\n\n`);
        const record = await queue.enqueue({
          source: "node1",
          kind: "evacuate",
          moves: plan.moves,
          requestedBy: actor,
        });
        await events.append({ type: "evacuation.confirmed", actor, node: "node1", evacuationId: record.id });
        const chartsDir = resolve(opts.charts);
        mkdirSync(chartsDir, { recursive: true });
        const results = await followEvacuation(
          queue,
          record.id,
          {
            progress: (line) => err(`  ${line}\n`),
            result: (r) => out(`\n${formatResult(r)}\n`),
          },
          250,
        );
        const written: string[] = [];
        for (const r of results) {
          if (!r.qos?.measured || !r.qos.chartKey) continue;
          const png = await redis.getBuffer(r.qos.chartKey);
          if (!png) continue;
          const file = join(chartsDir, `vm${r.vmid}-${r.source}-to-${r.target}.png`);
          writeFileSync(file, png);
          written.push(file);
        }
        const verify = await events.verify();
        out(`\nEvacuation ${record.id}: ${summarize(results)}.\n`);
        out(`Audit log: ${verify.count} entries, hash chain ${verify.ok ? "intact" : "BROKEN"}.\n`);
        out(`Charts (RTT timeline, lost probes and the migration window marked) in ${chartsDir}:\n`);
        for (const f of written) out(`  ${f}\n`);
        if (results.some((r) => r.status !== "succeeded")) process.exitCode = 1;
      } finally {
        await runtime.close();
        await queue.queue.obliterate({ force: true });
        await queue.close();
        const keys = await redis.keys(`${prefix}:*`);
        if (keys.length > 0) await redis.del(...keys);
        await redis.quit();
        await pve.close();
        await lab.close();
      }
    });
};
