/** The worker's ops endpoint on real Redis with a real BullMQ Worker (a stand-in processor). */

import { randomBytes } from "node:crypto";
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppConfig } from "../config/schema.ts";
import { createLogger } from "../lib/logger.ts";
import { deleteByPrefix } from "../lib/redis.ts";
import type { MigrationJobData } from "../worker/jobData.ts";
import type { MigrationResult } from "../worker/migrateVm.ts";
import { QUEUE_NAME } from "../worker/queue.ts";
import { startOpsForBot, startOpsForWorker } from "./startOps.ts";
import { fakeResult } from "./testFixtures.ts";

const prefix = `test-ops-${randomBytes(4).toString("hex")}`;
const config = AppConfig.parse({ redisPrefix: prefix });
const logger = createLogger({ level: "silent" });
let redis: Redis;

beforeAll(() => {
  redis = new Redis("redis://127.0.0.1:6379", { maxRetriesPerRequest: null });
});
afterAll(async () => {
  await deleteByPrefix(redis, prefix);
  await redis.quit();
});

describe("startOpsForWorker", () => {
  it("does nothing without METRICS_PORT", async () => {
    const worker = new Worker(QUEUE_NAME, async () => fakeResult(), {
      connection: redis,
      prefix,
      autorun: false,
    });
    expect(await startOpsForWorker({ worker }, config, { redis, logger })).toBeUndefined();
    await worker.close();
  });

  it("records completed jobs, reports queue depth and health, and closes with the worker", async () => {
    const worker = new Worker<MigrationJobData, MigrationResult>(QUEUE_NAME, async () => fakeResult(), {
      connection: redis,
      prefix,
    });
    await worker.waitUntilReady();
    const ops = await startOpsForWorker({ worker }, config, { redis, logger, port: 0, host: "127.0.0.1" });
    if (!ops) throw new Error("ops did not start");
    const done = new Promise((resolve) => worker.once("completed", resolve));
    const queue = new Queue(QUEUE_NAME, { connection: redis, prefix });
    await queue.add("migrate", { vmid: 101 } as MigrationJobData);
    await done;

    const metrics = await (await fetch(`${ops.server.url}/metrics`)).text();
    expect(metrics).toContain('pve_evacuate_migrations_total{status="succeeded"} 1');
    expect(metrics).toContain('pve_evacuate_qos_grades_total{metric="downtime",grade="good"} 1');
    expect(metrics).toMatch(/^pve_evacuate_queue_jobs\{state="waiting"\} 0$/m);
    expect(metrics).toMatch(/^pve_evacuate_evacuations_running 0$/m);
    const healthy = await fetch(`${ops.server.url}/healthz`);
    expect(healthy.status).toBe(200);

    await worker.close();
    await queue.close();
    // The ops server went down with the worker.
    await expect(fetch(`${ops.server.url}/healthz`)).rejects.toThrow();
  });

  it("reports an unhealthy worker with 503", async () => {
    const worker = new Worker(QUEUE_NAME, async () => fakeResult(), {
      connection: redis,
      prefix,
      autorun: false,
    });
    const ops = await startOpsForWorker({ worker }, config, { redis, logger, port: 0, host: "127.0.0.1" });
    const res = await fetch(`${ops?.server.url}/healthz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({
      ok: false,
      checks: { redis: { ok: true }, worker: { ok: false } },
    });
    await ops?.close();
    await worker.close();
  });
});

describe("startOpsForBot", () => {
  it("is healthy when the Discord client is ready", async () => {
    let ready = false;
    const ops = await startOpsForBot(config, {
      redis,
      logger,
      port: 0,
      host: "127.0.0.1",
      isReady: () => ready,
    });
    expect((await fetch(`${ops?.server.url}/healthz`)).status).toBe(503);
    ready = true;
    expect((await fetch(`${ops?.server.url}/healthz`)).status).toBe(200);
    await ops?.close();
  });
});
