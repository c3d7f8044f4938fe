import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../lib/errors.ts";
import { ENV_VARS, loadConfig } from "./load.ts";

const SECRET = "0b2f4c1e-7a55-4d2e-9a1b-3c4d5e6f7a8b";
const validPve = {
  PVE_HOST: "pve1.example.net",
  PVE_TOKEN_ID: "evacuate@pve!bot",
  PVE_TOKEN_SECRET: SECRET,
  PVE_FINGERPRINT: `${"AB:".repeat(31)}AB`,
};

function problemsOf(fn: () => unknown): { key: string; reason: string }[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return [...e.problems];
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("applies defaults when nothing is set", () => {
    const c = loadConfig({ env: {} });
    expect(c.pve).toBeUndefined();
    expect(c.redisUrl).toBe("redis://127.0.0.1:6379");
    expect(c.migration.order).toBe("smallest-first");
    expect(c.migration.pinnedTags).toEqual(["pinned", "no-evacuate"]);
    expect(c.qos.intervalMs).toBe(10);
  });

  it("reads a PVE section from env and normalises the fingerprint", () => {
    const c = loadConfig({ env: validPve });
    expect(c.pve?.host).toBe("pve1.example.net");
    expect(c.pve?.port).toBe(8006);
    expect(c.pve?.fingerprint).toBe("ab".repeat(32));
    expect(c.pve?.tokenSecret.reveal()).toBe(SECRET);
  });

  it("lists every problem at once, naming the env var", () => {
    const problems = problemsOf(() =>
      loadConfig({
        env: { ...validPve, PVE_TOKEN_ID: "nobang", PVE_PORT: "99999", MIGRATION_ORDER: "random" },
      }),
    );
    const keys = problems.map((p) => p.key).sort();
    expect(keys).toEqual(["MIGRATION_ORDER", "PVE_PORT", "PVE_TOKEN_ID"]);
    expect(problems.find((p) => p.key === "PVE_TOKEN_ID")?.reason).toMatch(/user@realm!tokenname/);
  });

  it("refuses a PVE section without a way to verify TLS", () => {
    const { PVE_FINGERPRINT: _, ...noPin } = validPve;
    const problems = problemsOf(() => loadConfig({ env: noPin }));
    expect(problems).toEqual([{ key: "PVE_CA_FILE", reason: expect.stringMatching(/PVE_FINGERPRINT/) }]);
  });

  it("reads secrets from *_FILE and refuses both forms at once", () => {
    const c = loadConfig({
      env: { ...validPve, PVE_TOKEN_SECRET: undefined, PVE_TOKEN_SECRET_FILE: "/run/secrets/pve" },
      readSecretFile: (p) => (p === "/run/secrets/pve" ? `${SECRET}\n` : ""),
    });
    expect(c.pve?.tokenSecret.reveal()).toBe(SECRET);
    const problems = problemsOf(() =>
      loadConfig({ env: { ...validPve, PVE_TOKEN_SECRET_FILE: "/x" }, readSecretFile: () => SECRET }),
    );
    expect(problems[0]?.key).toBe("PVE_TOKEN_SECRET");
  });

  it("names an unreadable secret file without its content", () => {
    const problems = problemsOf(() =>
      loadConfig({
        env: { ...validPve, PVE_TOKEN_SECRET: undefined, PVE_TOKEN_SECRET_FILE: "/nope" },
        readSecretFile: () => {
          throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
        },
      }),
    );
    expect(problems).toEqual([{ key: "PVE_TOKEN_SECRET_FILE", reason: "cannot read /nope (ENOENT)" }]);
  });

  it("lets env override the config file", () => {
    const c = loadConfig({
      env: { MIGRATION_ORDER: "vmid" },
      file: { migration: { order: "largest-first" } },
    });
    expect(c.migration.order).toBe("vmid");
  });

  it("never shows a secret in errors, JSON or inspect output", () => {
    const c = loadConfig({ env: validPve });
    expect(JSON.stringify(c)).not.toContain(SECRET);
    expect(inspect(c, { depth: 10 })).not.toContain(SECRET);
    const bad = problemsOf(() => loadConfig({ env: { ...validPve, PVE_HOST: "", PVE_TOKEN_ID: "x" } }));
    expect(JSON.stringify(bad)).not.toContain(SECRET);
  });
});

describe("ENV_VARS", () => {
  it("gives every configuration key an environment variable", () => {
    const full = loadConfig({
      env: {
        ...validPve,
        PVE_TOKEN_SECRET: SECRET,
        DISCORD_TOKEN: "x",
        DISCORD_APPLICATION_ID: "123456789012345678",
        DISCORD_GUILD_ID: "123456789012345678",
        DISCORD_CHANNEL_ID: "123456789012345678",
        DISCORD_NOTIFY_ROLE_ID: "123456789012345678",
        DISCORD_API_BASE: "http://127.0.0.1:1/api",
        PVE_CA_FILE: "/ca.pem",
        METRICS_PORT: "9100",
      },
    });
    const leaves: string[] = [];
    const walk = (value: unknown, path: string[]) => {
      const isBranch =
        typeof value === "object" && value !== null && !Array.isArray(value) && !("reveal" in value);
      if (isBranch) for (const [k, v] of Object.entries(value)) walk(v, [...path, k]);
      else leaves.push(path.join("."));
    };
    walk(full, []);
    const mapped = new Set(ENV_VARS.map((v) => v.path.join(".")));
    expect(leaves.filter((l) => !mapped.has(l))).toEqual([]);
    expect([...mapped].filter((m) => !leaves.includes(m))).toEqual([]);
  });
});
