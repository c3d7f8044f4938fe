import { describe, expect, it } from "vitest";
import {
  discordChannelCheck,
  discordCheck,
  evictionPolicyCheck,
  exitCodeOf,
  formatReport,
  persistenceCheck,
  privilegesCheck,
  pveMajorOf,
  redisFailure,
  redisVersionCheck,
  report,
} from "./doctor.ts";
import { parseRedisInfo } from "./runDoctor.ts";

const ALL = { "VM.Audit": 1, "VM.Migrate": 1, "VM.GuestAgent.Audit": 1, "Sys.Audit": 1, "Sys.Modify": 1 };

describe("doctor verdicts", () => {
  it("accepts only noeviction, and says how to fix anything else", () => {
    expect(evictionPolicyCheck("noeviction").status).toBe("ok");
    for (const policy of ["allkeys-lru", "volatile-lru", "allkeys-random", "volatile-ttl"]) {
      const c = evictionPolicyCheck(policy);
      expect(c.status).toBe("fail");
      expect(c.message).toContain(policy);
      expect(c.fix).toContain("maxmemory-policy noeviction");
    }
    expect(evictionPolicyCheck(undefined).status).toBe("warn");
  });

  it("grades persistence: AOF ok, snapshots or nothing warn", () => {
    expect(persistenceCheck({ aof: true, save: "" }).status).toBe("ok");
    const none = persistenceCheck({ aof: false, save: "" });
    expect(none.status).toBe("warn");
    expect(none.message).toContain("events and queued jobs are lost on restart");
    const rdb = persistenceCheck({ aof: false, save: "3600 1 300 100" });
    expect(rdb.status).toBe("warn");
    expect(rdb.message).toContain("since the last snapshot");
    expect(persistenceCheck({}).status).toBe("warn");
  });

  it("knows BullMQ's Redis version floor", () => {
    expect(redisVersionCheck("4.0.9", "redis://x").status).toBe("fail");
    expect(redisVersionCheck("6.0.16", "redis://x").status).toBe("warn");
    expect(redisVersionCheck("7.2.4", "redis://x").status).toBe("ok");
    expect(redisVersionCheck(undefined, "redis://x").status).toBe("ok");
  });

  it("tells a refused password from an unreachable server", () => {
    expect(redisFailure("redis://h", { message: "WRONGPASS invalid username-password pair" }).fix).toContain(
      "password",
    );
    expect(
      redisFailure("redis://h", { code: "ECONNREFUSED", message: "connect ECONNREFUSED" }).message,
    ).toContain("ECONNREFUSED");
  });

  it("reads the PVE major release", () => {
    expect(pveMajorOf({ release: "9.1", version: "9.1.1" })).toBe(9);
    expect(pveMajorOf({ version: "8.4.0" })).toBe(8);
    expect(pveMajorOf({})).toBeUndefined();
  });

  it("lists each missing privilege with its path", () => {
    const tree = { "/": ALL, "/nodes": ALL, "/vms": { "VM.Audit": 1, "VM.GuestAgent.Audit": 1 } };
    const c = privilegesCheck(tree, 9, "u@pve!t");
    expect(c.status).toBe("fail");
    expect(c.message).toContain("VM.Migrate on /vms missing");
    expect(c.fix).toContain("pveum role add");
    expect(c.fix).toContain("--tokens 'u@pve!t'");
  });

  it("warns for recommended privileges only, per PVE release", () => {
    const noAgent = { "/": ALL, "/nodes": ALL, "/vms": { "VM.Audit": 1, "VM.Migrate": 1 } };
    const pve9 = privilegesCheck(noAgent, 9, "u@pve!t");
    expect(pve9.status).toBe("warn");
    expect(pve9.message).toContain("VM.GuestAgent.Audit or VM.GuestAgent.Unrestricted on /vms");
    const pve8 = privilegesCheck(noAgent, 8, "u@pve!t");
    expect(pve8.message).toContain("VM.Monitor on /vms");
    expect(pve8.message).not.toContain("GuestAgent");
  });

  it("spots grants that do not reach every guest", () => {
    const tree = {
      "/": ALL,
      "/nodes": ALL,
      "/vms": { "VM.Audit": 1, "VM.Migrate": 0, "VM.GuestAgent.Audit": 1 },
    };
    expect(privilegesCheck(tree, 9, "u@pve!t").message).toContain("without propagation");
    const perVm = { "/": ALL, "/nodes": ALL, "/vms": { "VM.Audit": 1 }, "/vms/101": { "VM.Migrate": 1 } };
    expect(privilegesCheck(perVm, 9, "u@pve!t").message).toContain("VM.Migrate on /vms only on /vms/101");
  });

  it("treats an unreachable Discord as skipped, a refused token as failed", () => {
    expect(discordCheck({ error: "ENOTFOUND" }, "1").status).toBe("skip");
    expect(discordCheck({ error: "ENOTFOUND" }, "1").message).toMatch(/^skipped: Discord not reachable/);
    expect(discordCheck({ status: 401 }, "1").status).toBe("fail");
    expect(discordCheck({ status: 200, user: { id: "1", username: "bot" } }, "1").status).toBe("ok");
    expect(discordCheck({ status: 200, user: { id: "2", username: "bot" } }, "1").status).toBe("warn");
    expect(discordCheck({ status: 502 }, "1").status).toBe("warn");
    const ok = { status: 200, user: { id: "1" } };
    expect(discordChannelCheck({ ...ok, channelStatus: 200 }, "9")?.status).toBe("ok");
    expect(discordChannelCheck({ ...ok, channelStatus: 403 }, "9")).toMatchObject({
      status: "fail",
      message: expect.stringContaining("channel 9"),
    });
    expect(discordChannelCheck({ ...ok, channelStatus: 404 }, "9")?.fix).toMatch(/DISCORD_CHANNEL_ID/);
    expect(discordChannelCheck({ status: 401 }, "9")).toBeUndefined();
  });

  it("exits 1 only when something failed", () => {
    const ok = report([
      { id: "a", status: "ok", message: "" },
      { id: "b", status: "warn", message: "" },
    ]);
    const bad = report([
      { id: "a", status: "fail", message: "x", fix: "do y" },
      { id: "b", status: "skip", message: "" },
    ]);
    expect(exitCodeOf(ok)).toBe(0);
    expect(exitCodeOf(bad)).toBe(1);
    expect(formatReport(bad)).toContain("fix: do y");
    expect(formatReport(bad)).toContain("1 check failed");
  });

  it("parses INFO", () => {
    const info = parseRedisInfo(
      "# Server\r\nredis_version:7.2.4\r\n# Memory\r\nmaxmemory_policy:noeviction\r\n",
    );
    expect(info).toEqual({ redis_version: "7.2.4", maxmemory_policy: "noeviction" });
  });
});
