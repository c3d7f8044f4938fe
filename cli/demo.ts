/**
 * `pve-evacuate demo` (npm run demo): the whole flow on the lab, nothing else needed but Redis.
 * Starts a 3-node lab (idle, video and game VMs plus one with PCI passthrough on node1), a worker,
 * and evacuates node1 — plan, confirmation, live progress, one result card per VM, the summary, the
 * audit chain check — and writes each VM's RTT timeline chart to a folder.
 */

import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { createEventLog } from "../audit/eventLog.ts";
import { createCommandDeps } from "../commands/deps.ts";
import { loadConfig } from "../config/load.ts";
import { runConsoleCommand } from "../console/runConsoleCommand.ts";
import { LabClusterBuilder } from "../lab/generate.ts";
import { labPveClient } from "../lab/labClient.ts";
import { startLab } from "../lab/server.ts";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import { createLogger } from "../lib/logger.ts";
import { createRedis, deleteByPrefix, describeRedisUrl } from "../lib/redis.ts";
import { createEvacuationQueue } from "../worker/queue.ts";
import { startWorkerRuntime } from "../worker/runtime.ts";
import { outputOf, type Register } from "./program.ts";

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
      const pve = labPveClient(lab);
      const events = createEventLog({ redis, prefix });
      const runtime = startWorkerRuntime({ config, redis, pve, logger: createLogger({ level: "warn" }) });
      const queue = createEvacuationQueue({ redis, prefix, events });
      const deps = createCommandDeps({
        config,
        redis,
        pve,
        events,
        queue,
        logger: createLogger({ level: "warn" }),
        prefix,
      });
      try {
        out(
          `Lab cluster at ${lab.url} (3 nodes, token ${lab.tokenId}, fingerprint ${lab.fingerprint.slice(0, 23)}…)\n`,
        );
        out("Terminal chat: the same command handlers and cards as the Discord channel.\n\n");
        out("> /evacuate node:node1\n");
        const chartsDir = resolve(opts.charts);
        mkdirSync(chartsDir, { recursive: true });
        const { results } = await runConsoleCommand(
          "evacuate",
          { node: "node1" },
          {
            deps,
            autoConfirm: true,
            write: out,
            user: { id: "demo", name: "demo operator", roles: [] },
            pollMs: 250,
            readChart: async (key) => (await redis.getBuffer(key)) ?? undefined,
            chartDir: chartsDir,
          },
        );
        const verify = await events.verify();
        out(`\nAudit log: ${verify.count} entries, hash chain ${verify.ok ? "intact" : "BROKEN"}.\n`);
        out(`Charts (RTT timeline, lost probes and the migration window marked) are in ${chartsDir}.\n`);
        if (results.length === 0 || results.some((r) => r.status !== "succeeded")) process.exitCode = 1;
      } finally {
        await runtime.close();
        await queue.queue.obliterate({ force: true });
        await queue.close();
        await deleteByPrefix(redis, prefix);
        await redis.quit();
        await pve.close();
        await lab.close();
      }
    });
};
