/**
 * doctor against the lab over HTTPS, the real Redis on 127.0.0.1:6379 and a stand-in Discord API on a
 * local port (Discord's servers are out of reach here).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { registerDoctor } from "../cli/doctor.ts";
import { runCli } from "../cli/program.ts";
import { type RunningLab, startLab } from "../lab/server.ts";
import type { DoctorCheck, DoctorReport } from "./doctor.ts";
import { runDoctor } from "./runDoctor.ts";

let lab: RunningLab;
let discord: Server;
let discordBase: string;
const BOT_TOKEN = "test-bot-token";
const APP_ID = "123456789012345678";

function labEnv(): NodeJS.ProcessEnv {
  return {
    PVE_HOST: lab.host,
    PVE_PORT: String(lab.port),
    PVE_TOKEN_ID: lab.tokenId,
    PVE_TOKEN_SECRET: lab.tokenSecret,
    PVE_FINGERPRINT: lab.fingerprint,
    REDIS_URL: "redis://127.0.0.1:6379",
  };
}

function discordEnv(token = BOT_TOKEN, base = discordBase): NodeJS.ProcessEnv {
  return {
    DISCORD_TOKEN: token,
    DISCORD_APPLICATION_ID: APP_ID,
    DISCORD_GUILD_ID: "223456789012345678",
    DISCORD_CHANNEL_ID: "323456789012345678",
    DISCORD_API_BASE: base,
  };
}

function byId(r: DoctorReport, id: string): DoctorCheck {
  const c = r.checks.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id}`);
  return c;
}

beforeAll(async () => {
  lab = await startLab({ port: 0, nodes: 2, vms: 3, responders: false, authFailureDelayMs: 0 });
  discord = createServer((req, res) => {
    const authed = req.headers.authorization === `Bot ${BOT_TOKEN}`;
    if (authed && req.url?.startsWith("/api/v10/channels/")) {
      // The bot sees only the configured channel.
      const known = req.url === `/api/v10/channels/${discordEnv().DISCORD_CHANNEL_ID}`;
      res.writeHead(known ? 200 : 404, { "content-type": "application/json" });
      res.end(
        JSON.stringify(
          known
            ? { id: discordEnv().DISCORD_CHANNEL_ID, type: 0 }
            : { message: "Unknown Channel", code: 10003 },
        ),
      );
      return;
    }
    const ok = req.url === "/api/v10/users/@me" && authed;
    res.writeHead(ok ? 200 : 401, { "content-type": "application/json" });
    res.end(
      JSON.stringify(
        ok ? { id: APP_ID, username: "evacuate-bot" } : { message: "401: Unauthorized", code: 0 },
      ),
    );
  });
  await new Promise<void>((resolve) => discord.listen(0, "127.0.0.1", resolve));
  discordBase = `http://127.0.0.1:${(discord.address() as AddressInfo).port}/api`;
});

afterAll(async () => {
  await lab.close();
  await new Promise((resolve) => discord.close(resolve));
});

afterEach(() => {
  lab.faults.clear();
  process.exitCode = undefined;
});

describe("doctor against the lab", () => {
  it("passes everything on a sound installation", async () => {
    const r = await runDoctor({ env: { ...labEnv(), ...discordEnv() } });
    const statuses = Object.fromEntries(r.checks.map((c) => [c.id, c.status]));
    expect(statuses).toEqual({
      config: "ok",
      redis: "ok",
      "redis.eviction": "ok",
      // the test Redis runs without persistence
      "redis.persistence": statuses["redis.persistence"],
      pve: "ok",
      "pve.tls": "ok",
      "pve.token": "ok",
      "pve.privileges": "ok",
      discord: "ok",
      "discord.channel": "ok",
    });
    expect(r.ok).toBe(true);
    expect(byId(r, "discord").message).toContain("evacuate-bot");
  });

  it("names a privilege the token lacks, with its path", async () => {
    lab.faults.denyPrivilege("VM.Migrate", "/vms");
    const r = await runDoctor({ env: labEnv() });
    const c = byId(r, "pve.privileges");
    expect(c.status).toBe("fail");
    expect(c.message).toContain("VM.Migrate on /vms");
    expect(r.ok).toBe(false);
  });

  it("shows both fingerprints when the pin does not match", async () => {
    const wrong = "AB".repeat(32);
    const r = await runDoctor({ env: { ...labEnv(), PVE_FINGERPRINT: wrong } });
    const c = byId(r, "pve.tls");
    expect(c.status).toBe("fail");
    expect(c.message).toContain(lab.fingerprint);
    expect(c.message).toContain(wrong.match(/.{2}/g)?.join(":"));
    expect(byId(r, "pve.privileges").status).toBe("skip");
  });

  it("fails on an unreachable Redis and skips what depends on it", async () => {
    const r = await runDoctor({ env: { ...labEnv(), REDIS_URL: "redis://127.0.0.1:1" }, timeoutMs: 2000 });
    expect(byId(r, "redis").status).toBe("fail");
    expect(byId(r, "redis").message).toContain("ECONNREFUSED");
    expect(byId(r, "redis.eviction").status).toBe("skip");
    expect(byId(r, "pve").status).toBe("ok");
  });

  it("fails on a refused PVE token", async () => {
    const r = await runDoctor({
      env: { ...labEnv(), PVE_TOKEN_SECRET: "00000000-0000-4000-8000-000000000000" },
    });
    expect(byId(r, "pve.token").status).toBe("fail");
    expect(byId(r, "pve.tls").status).toBe("ok");
  });

  it("fails on an unreachable PVE", async () => {
    const r = await runDoctor({ env: { ...labEnv(), PVE_PORT: "1" }, timeoutMs: 2000 });
    expect(byId(r, "pve").status).toBe("fail");
    expect(byId(r, "pve").fix).toContain("PVE_HOST");
  });

  it("reports config problems and still checks the sections that are fine", async () => {
    const r = await runDoctor({ env: { ...labEnv(), DISCORD_TOKEN: BOT_TOKEN, MIGRATION_ORDER: "random" } });
    expect(byId(r, "config").status).toBe("fail");
    expect(byId(r, "config").message).toContain("MIGRATION_ORDER");
    expect(byId(r, "config").message).toContain("DISCORD_APPLICATION_ID");
    expect(byId(r, "discord").status).toBe("skip");
    expect(byId(r, "pve.privileges").status).toBe("ok");
  });

  it("fails on a refused Discord token, skips an unreachable Discord", async () => {
    const refused = await runDoctor({ env: { ...labEnv(), ...discordEnv("wrong-token") } });
    expect(byId(refused, "discord").status).toBe("fail");
    const down = await runDoctor({
      env: { ...labEnv(), ...discordEnv(BOT_TOKEN, "http://127.0.0.1:1/api") },
    });
    expect(byId(down, "discord").status).toBe("skip");
    expect(byId(down, "discord").message).toMatch(/^skipped: Discord not reachable/);
    expect(down.ok).toBe(true);
  });

  it("pve-evacuate doctor --json prints the report and exits 1 on a failure", async () => {
    lab.faults.denyPrivilege("Sys.Audit", "/nodes");
    const out: string[] = [];
    const code = await runCli(["doctor", "--json"], [registerDoctor({ env: labEnv() })], {
      stdout: (t) => out.push(t),
      stderr: () => {},
    });
    expect(code).toBe(1);
    const printed = JSON.parse(out.join("")) as DoctorReport;
    expect(printed.ok).toBe(false);
    expect(printed.checks.find((c) => c.id === "pve.privileges")?.message).toContain("Sys.Audit on /nodes");
  });

  it("pve-evacuate doctor prints a readable table", async () => {
    const out: string[] = [];
    const code = await runCli(["doctor"], [registerDoctor({ env: labEnv() })], {
      stdout: (t) => out.push(t),
      stderr: () => {},
    });
    expect(code).toBe(0);
    expect(out.join("")).toMatch(/^ok {4}pve\.privileges/m);
  });
});

describe("doctor and the Discord channel", () => {
  it("fails when the bot cannot see DISCORD_CHANNEL_ID, saying how to fix it", async () => {
    const r = await runDoctor({
      env: { ...labEnv(), ...discordEnv(), DISCORD_CHANNEL_ID: "423456789012345678" },
    });
    expect(byId(r, "discord.channel")).toMatchObject({
      status: "fail",
      message: "channel 423456789012345678 is unknown to the bot (404)",
    });
    expect(r.ok).toBe(false);
  });
});
