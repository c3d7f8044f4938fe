/**
 * `pve-evacuate start` as an operator runs it: a real process with the bot (against the fake Discord)
 * and the worker (against the lab), /healthz answering, and a clean exit on SIGTERM.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeDiscord, startFakeDiscord } from "../bot/fakeDiscord.ts";
import { labConnectionEnv } from "../lab/labClient.ts";
import { type RunningLab, startLab } from "../lab/server.ts";
import { createRedis, deleteByPrefix } from "../lib/redis.ts";

const ID = { app: "100000000000000001", guild: "100000000000000002", channel: "100000000000000003" };
const TOKEN = "fake-bot-token-for-tests";
const prefix = `test-start-${randomBytes(4).toString("hex")}`;
let lab: RunningLab;
let fake: FakeDiscord;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  lab = await startLab({ port: 0, nodes: 3, vms: 4, timeScale: 40, authFailureDelayMs: 0 });
  fake = await startFakeDiscord({
    applicationId: ID.app,
    guildId: ID.guild,
    channelIds: [ID.channel],
    roles: [],
    token: TOKEN,
  });
});

afterAll(async () => {
  await fake.close();
  await lab.close();
  const redis = createRedis("redis://127.0.0.1:6379");
  await deleteByPrefix(redis, prefix);
  await redis.quit();
});

describe("pve-evacuate start", () => {
  it("serves /healthz while running and exits 0 on SIGTERM", async () => {
    const metricsPort = await freePort();
    const child: ChildProcess = spawn(process.execPath, ["bin/pve-evacuate.js", "start"], {
      env: {
        ...process.env,
        ...labConnectionEnv(lab),
        REDIS_PREFIX: prefix,
        DISCORD_TOKEN: TOKEN,
        DISCORD_APPLICATION_ID: ID.app,
        DISCORD_GUILD_ID: ID.guild,
        DISCORD_CHANNEL_ID: ID.channel,
        DISCORD_API_BASE: fake.restApi,
        METRICS_PORT: String(metricsPort),
        LOG_LEVEL: "silent",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (d) => {
      stderr += String(d);
    });
    try {
      let health: { status: number; body: string } | undefined;
      for (let i = 0; i < 150 && health?.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        health = await fetch(`http://127.0.0.1:${metricsPort}/healthz`)
          .then(async (r) => ({ status: r.status, body: await r.text() }))
          .catch(() => undefined);
      }
      expect(health, stderr).toMatchObject({ status: 200 });
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metrics).toContain("pve_evacuate_");

      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(stderr).not.toContain(TOKEN);
      expect(stderr).not.toContain(lab.tokenSecret);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  }, 60_000);
});
