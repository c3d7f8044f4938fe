import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCodes, PveApiError, UserError } from "../lib/errors.ts";
import { Secret } from "../lib/secret.ts";
import { createHttpPveClient } from "./httpClient.ts";
import { apiPaths } from "./paths.ts";
import {
  createReplayClient,
  loadSnapshotFile,
  parseSnapshot,
  recordSnapshot,
  SNAPSHOT_FORMAT,
  type Snapshot,
  snapshotTransport,
} from "./snapshot.ts";
import { makeTestPki, serveSnapshotGets, startTestServer } from "./testHttps.ts";

const fixtureFile = fileURLToPath(new URL("./fixtures/snapshot-small.json", import.meta.url));
const fixture = loadSnapshotFile(fixtureFile);
const MIGRATE_UPID = "UPID:node1:0001A2B3:02F5E100:6955C710:qmigrate:101:root@pam:";

/** The fixture as PVE would answer it: 501 for paths this "PVE" lacks, 595 for the offline node. */
function fixtureGet(snapshot: Snapshot = fixture) {
  const transport = snapshotTransport(snapshot);
  return async (path: string) => (await transport.request("GET", path)).data;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

const CONTRACT_PATHS = [
  "/version",
  "/cluster/status",
  "/cluster/resources",
  "/nodes",
  "/cluster/ha/status/current",
  "/cluster/ha/status/manager_status",
  "/nodes/node1/status",
  "/nodes/node2/status",
  "/nodes/node1/qemu/101/config",
  "/nodes/node1/qemu/101/migrate",
  "/nodes/node1/qemu/102/config",
  "/nodes/node1/qemu/102/migrate",
  "/nodes/node2/qemu/103/config",
  "/nodes/node2/qemu/103/migrate",
  "/nodes/node1/lxc/201/config",
];

describe("recordSnapshot", () => {
  it("records every contract path raw, skipping the offline node and the absent HA rules", async () => {
    const skipped: string[] = [];
    const recorded = await recordSnapshot(fixtureGet(), {
      source: "pve.example:8006",
      now: () => new Date("2026-02-03T04:05:06.000Z"),
      onSkip: (path) => skipped.push(path),
    });
    expect(recorded._meta).toEqual({
      format: SNAPSHOT_FORMAT,
      recordedAt: "2026-02-03T04:05:06.000Z",
      source: "pve.example:8006",
    });
    expect(Object.keys(recorded).filter((k) => k !== "_meta")).toEqual(CONTRACT_PATHS);
    for (const path of CONTRACT_PATHS) expect(recorded[path]).toEqual(fixture[path]);
    expect(skipped).toEqual(["/cluster/ha/rules", "/nodes/node3/status"]);
  });

  it("fails when a cluster-wide path cannot be read", async () => {
    const get = fixtureGet();
    const error = await rejection(
      recordSnapshot(async (path) => {
        if (path === "/cluster/resources") {
          throw new PveApiError({ method: "GET", path, status: 403, pveMessage: "Permission check failed" });
        }
        return get(path);
      }),
    );
    expect(error).toBeInstanceOf(PveApiError);
  });

  it("does not swallow bugs on optional paths", async () => {
    const get = fixtureGet();
    const error = await rejection(
      recordSnapshot(async (path) => {
        if (path.endsWith("/config")) throw new TypeError("boom");
        return get(path);
      }),
    );
    expect(error).toBeInstanceOf(TypeError);
  });

  describe("through the HTTP adapter", () => {
    let server: Awaited<ReturnType<typeof startTestServer>>;
    let fingerprint: string;
    beforeAll(async () => {
      const pki = await makeTestPki();
      fingerprint = pki.fingerprint;
      server = await startTestServer(pki);
      serveSnapshotGets(server, fixtureGet());
    });
    afterAll(async () => {
      await server.close();
    });

    it("keeps PVE's raw 0/1 booleans and names the source", async () => {
      const client = createHttpPveClient({
        host: "127.0.0.1",
        port: server.port,
        tokenId: "evacuate@pve!snap",
        tokenSecret: new Secret("11111111-2222-4333-8444-555555555555"),
        fingerprint,
        timeoutMs: 5000,
        retries: 0,
      });
      try {
        const recorded = await recordSnapshot(client);
        expect(recorded._meta.source).toBe(`127.0.0.1:${server.port}`);
        expect(Object.keys(recorded).filter((k) => k !== "_meta")).toEqual(CONTRACT_PATHS);
        expect((recorded["/nodes/node1/qemu/101/migrate"] as { running: unknown }).running).toBe(1);
        expect(recorded["/cluster/resources"]).toEqual(fixture["/cluster/resources"]);
      } finally {
        await client.close();
      }
    });
  });
});

describe("loadSnapshotFile / parseSnapshot", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "pve-snap-"));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true });
  });

  function fileWith(name: string, text: string): string {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  }

  function refusal(fn: () => unknown): UserError {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(UserError);
      return e as UserError;
    }
    throw new Error("expected a UserError");
  }

  it("names a missing file", () => {
    const e = refusal(() => loadSnapshotFile(join(dir, "nope.json")));
    expect(e.code).toBe(ErrorCodes.SnapshotInvalid);
    expect(e.message).toContain("nope.json (ENOENT)");
  });

  it("refuses a file that is not JSON", () => {
    const e = refusal(() => loadSnapshotFile(fileWith("bad.json", "{not json")));
    expect(e.message).toContain("bad.json is not JSON");
  });

  it("refuses JSON without _meta, with another format, or with keys that are not paths", () => {
    expect(refusal(() => loadSnapshotFile(fileWith("a.json", "[]"))).message).toContain('no "_meta"');
    const other = { _meta: { format: "other/2", recordedAt: "2026-01-01T00:00:00Z", source: "x" } };
    expect(refusal(() => parseSnapshot(other, "other.json")).message).toContain('"other/2"');
    const badKey = { _meta: { ...other._meta, format: SNAPSHOT_FORMAT }, "/cluster/resources?type=vm": [] };
    expect(refusal(() => parseSnapshot(badKey, "k.json")).message).toContain("/cluster/resources?type=vm");
  });

  it("reads the fixture", () => {
    expect(fixture._meta.format).toBe(SNAPSHOT_FORMAT);
  });
});

describe("replay client", () => {
  const client = createReplayClient(fixture);

  it("is read-only", async () => {
    const e = await rejection(
      client.startMigration({ node: "node1", type: "qemu", vmid: 101, target: "node2" }),
    );
    expect(e).toBeInstanceOf(UserError);
    expect((e as UserError).code).toBe(ErrorCodes.SnapshotReadOnly);
    expect((e as UserError).message).toContain("read-only");
    const stop = await rejection(client.stopTask("node1", MIGRATE_UPID));
    expect((stop as UserError).code).toBe(ErrorCodes.SnapshotReadOnly);
  });

  it("names a path the snapshot lacks", async () => {
    const e = await rejection(client.agentNetworkInterfaces({ node: "node1", type: "qemu", vmid: 101 }));
    expect((e as UserError).code).toBe(ErrorCodes.SnapshotMissingPath);
    expect((e as UserError).message).toContain("GET /nodes/node1/qemu/101/agent/network-get-interfaces");
  });

  it("answers for an offline node as PVE would (595), and has no HA rules when they were absent", async () => {
    const e = await rejection(client.nodeStatus("node3"));
    expect(e).toBeInstanceOf(PveApiError);
    expect((e as PveApiError).detail.status).toBe(595);
    expect(await client.haRules()).toEqual([]);
  });

  it("parses through the same schemas (booleans) and hands out copies", async () => {
    const pre = await client.migratePrecondition({ node: "node1", type: "qemu", vmid: 101 }, "node2");
    expect(pre.running).toBe(true);
    const resources = await client.clusterResources();
    resources.length = 0;
    expect((await client.clusterResources()).length).toBeGreaterThan(0);
    expect((await client.clusterResources("storage")).every((r) => r.type === "storage")).toBe(true);
  });

  it("lists tasks like PVE: finished by default, running with source=active, limit and since", async () => {
    const archive = await client.nodeTasks("node1");
    expect(archive.every((t) => t.endtime !== undefined)).toBe(true);
    const active = await client.nodeTasks("node1", { source: "active" });
    expect(active.map((t) => t.type)).toEqual(["qmstart"]);
    expect(await client.nodeTasks("node1", { source: "all", limit: 1 })).toHaveLength(1);
    const since = await client.nodeTasks("node1", { source: "all", since: 1767225600 + 7200 });
    expect(since.map((t) => t.type)).toEqual(["qmstart", "vzdump"]);
  });

  it("pages a task log like PVE for any start/limit", async () => {
    const full = await client.taskLog("node1", MIGRATE_UPID, { start: 0, limit: 0 });
    await fc.assert(
      fc.asyncProperty(fc.nat(15), fc.nat(15), async (start, limit) => {
        const page = await client.taskLog("node1", MIGRATE_UPID, { start, limit });
        expect(page.total).toBe(full.total);
        expect(page.lines).toEqual(full.lines.slice(start, limit === 0 ? undefined : start + limit));
      }),
      { numRuns: 50 },
    );
    const transport = snapshotTransport(fixture);
    const pveDefault = await transport.request("GET", apiPaths.taskLog("node1", MIGRATE_UPID));
    expect(pveDefault.total).toBe(full.total);
  });
});
