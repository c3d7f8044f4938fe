import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEventLog, type EventLog } from "../audit/eventLog.ts";
import { SAMPLE_EVENTS } from "../audit/sampleEvents.ts";
import { registerAudit } from "./audit.ts";
import { runCli } from "./program.ts";

const env = { REDIS_URL: "redis://127.0.0.1:6379" };
const runPrefix = `test-audit-cli-${randomUUID()}`;
let redis: Redis;
let n = 0;

beforeAll(() => {
  redis = new Redis(env.REDIS_URL);
});

afterAll(async () => {
  const keys = await redis.keys(`${runPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

async function seeded(): Promise<{ prefix: string; log: EventLog }> {
  n += 1;
  const prefix = `${runPrefix}:${n}`;
  const log = createEventLog({ redis, prefix });
  for (const event of Object.values(SAMPLE_EVENTS)) await log.append(event);
  return { prefix, log };
}

async function cli(argv: string[], prefix: string, cliEnv: NodeJS.ProcessEnv = env) {
  let stdout = "";
  let stderr = "";
  const io = {
    stdout: (t: string) => {
      stdout += t;
    },
    stderr: (t: string) => {
      stderr += t;
    },
  };
  const now = () => new Date("2026-01-01T09:30:00Z");
  const code = await runCli(argv, [registerAudit({ env: cliEnv, prefix, now })], io);
  return { code, stdout, stderr };
}

describe("pve-evacuate audit", () => {
  it("prints a table of every audited event (progress is not audited)", async () => {
    const { prefix } = await seeded();
    const { code, stdout, stderr } = await cli(["audit"], prefix);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^TIME +ACTOR +TYPE +NODE +VM +SUMMARY$/);
    expect(lines).toHaveLength(1 + Object.keys(SAMPLE_EVENTS).length - 1);
    expect(stdout).not.toContain("migration.progress");
    expect(stdout).toContain("2026-01-01 08:00:00Z  discord:alice    evacuation.requested  node1");
  });

  it("filters by vm, type family, user, since and limit", async () => {
    const { prefix } = await seeded();
    const types = async (...args: string[]) => {
      const r = await cli(["audit", ...args, "--format", "jsonl"], prefix);
      expect(r.code).toBe(0);
      return r.stdout
        .trimEnd()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l).event.type);
    };
    expect(await types("--vm", "102")).toEqual(["error"]);
    expect(await types("--type", "evacuation", "--limit", "2")).toEqual([
      "evacuation.cancelled",
      "evacuation.finished",
    ]);
    expect(await types("--user", "bob")).toEqual(["command.denied"]);
    expect(await types("--since", "1h")).toEqual(["command.denied"]);
    expect(await types("--node", "node2", "--since", "2026-01-01T08:00:35Z", "--type", "migration")).toEqual([
      "migration.started",
      "migration.result",
    ]);
  });

  it("exports CSV and JSON", async () => {
    const { prefix } = await seeded();
    const csv = await cli(["audit", "--format", "csv", "--vm", "101", "--type", "migration.result"], prefix);
    const rows = csv.stdout.split("\r\n");
    expect(rows[0]).toBe(
      "id,at,actor_kind,actor_id,actor_name,type,evacuation_id,node,vmid,summary,event,hash",
    );
    expect(rows[1]).toContain(",migration.result,ev-20260101-1,node1,101,");
    const json = await cli(["audit", "--json", "--limit", "3"], prefix);
    const parsed = JSON.parse(json.stdout) as { id: string; hash: string; event: { type: string } }[];
    expect(parsed.map((e) => e.event.type)).toEqual(["evacuation.finished", "command.denied", "error"]);
  });

  it("refuses a bad --since, naming the value and the accepted forms", async () => {
    const { code, stdout, stderr } = await cli(["audit", "--since", "last tuesday"], "unused");
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toContain('--since "last tuesday" is not a time');
    expect(stderr).toContain("2026-01-01");
    expect(stderr).toContain("24h");
  });

  it("refuses a bad --vm, --limit, --type and --format", async () => {
    for (const [args, message] of [
      [["--vm", "abc"], '--vm "abc" is not a whole number'],
      [["--limit", "0"], '--limit "0" is not a whole number'],
      [["--type", "reboot"], '--type "reboot" is not an event type'],
      [["--format", "xml"], '--format "xml" is not an output format'],
    ] as const) {
      const r = await cli(["audit", ...args], "unused");
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(message);
    }
  });

  it("says Redis is unreachable without printing its password", async () => {
    const r = await cli(["audit"], "unused", { REDIS_URL: "redis://auditor:s3cr3t-pw@127.0.0.1:1" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Cannot reach Redis at redis://auditor:***@127.0.0.1:1");
    expect(r.stderr).not.toContain("s3cr3t-pw");
  });
});

describe("pve-evacuate audit verify", () => {
  it("reports an intact log", async () => {
    const { prefix, log } = await seeded();
    const text = await cli(["audit", "verify"], prefix);
    expect(text.code).toBe(0);
    expect(text.stdout).toBe(`Audit log intact: 12 entries, head ${await log.head()}.\n`);
    const json = await cli(["audit", "verify", "--json"], prefix);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ ok: true, count: 12, head: await log.head() });
  });

  it("exits 1 and names the entry where the chain breaks", async () => {
    const { prefix, log } = await seeded();
    const entries = await log.read();
    const removed = entries[2];
    const after = entries[3];
    await redis.xdel(log.streamKey, removed?.id as string);
    const text = await cli(["audit", "verify"], prefix);
    expect(text.code).toBe(1);
    expect(text.stderr).toContain(
      `Audit log broken at entry #3 (stream id ${after?.id}): it does not follow entry #2`,
    );
    const json = await cli(["audit", "verify", "--json"], prefix);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      index: 2,
      id: after?.id,
      reason: "prev-mismatch",
    });
  });
});
