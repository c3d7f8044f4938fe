import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { PveConfig } from "../config/schema.ts";
import { ConfigError, ErrorCodes, PveApiError } from "../lib/errors.ts";
import { Secret } from "../lib/secret.ts";
import {
  createHttpPveClient,
  type HttpClientOptions,
  type HttpPveClient,
  httpClientOptionsFromConfig,
} from "./httpClient.ts";
import { makeTestPki, sendPve, startTestServer, type TestPki, type TestServer } from "./testHttps.ts";

const SECRET = "0b8d7f2e-5c41-4a8e-9e1f-3a2b1c0d9e8f";
const TOKEN_ID = "evacuate@pve!test";
const UPID = "UPID:node1:00001234:0000ABCD:66000000:qmigrate:101:evacuate@pve!test:";

let pki: TestPki;
let server: TestServer;
const clients: HttpPveClient[] = [];
const thrown: unknown[] = [];
const sleeps: number[] = [];

beforeAll(async () => {
  pki = await makeTestPki();
  server = await startTestServer(pki);
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  server.requests.length = 0;
  sleeps.length = 0;
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

function client(overrides: Partial<HttpClientOptions> = {}): HttpPveClient {
  const c = createHttpPveClient({
    host: "127.0.0.1",
    port: server.port,
    tokenId: TOKEN_ID,
    tokenSecret: new Secret(SECRET),
    fingerprint: pki.fingerprint,
    timeoutMs: 5000,
    retries: 2,
    random: () => 0,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...overrides,
  });
  clients.push(c);
  return c;
}

async function failure(p: Promise<unknown>): Promise<PveApiError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  thrown.push(e);
  expect(e).toBeInstanceOf(PveApiError);
  return e as PveApiError;
}

describe("HTTP adapter: requests and answers", () => {
  it("sends the token header and parses the answer, while rawGet keeps PVE's raw data", async () => {
    server.handle((_req, res) =>
      sendPve(res, 200, {
        data: [{ id: "qemu/101", type: "qemu", node: "node1", vmid: 101, template: 0, maxmem: 2048 }],
      }),
    );
    const c = client();
    const parsed = await c.clusterResources("vm");
    expect(parsed[0]?.template).toBe(false);
    expect(await c.rawGet("/cluster/resources")).toEqual([
      { id: "qemu/101", type: "qemu", node: "node1", vmid: 101, template: 0, maxmem: 2048 },
    ]);
    expect(server.requests[0]?.url).toBe("/api2/json/cluster/resources?type=vm");
    expect(server.requests[0]?.authorization).toBe(`PVEAPIToken=${TOKEN_ID}=${SECRET}`);
  });

  it("hands every successful GET's raw data to onResponse, and nothing else", async () => {
    const seen: [string, unknown][] = [];
    server.handle((req, res) =>
      req.method === "GET"
        ? sendPve(res, 200, { data: { running: 1, allowed_nodes: ["node2"] } })
        : sendPve(res, 200, { data: UPID }),
    );
    const c = client({ onResponse: (path, data) => seen.push([path, data]) });
    await c.migratePrecondition({ node: "node1", type: "qemu", vmid: 101 });
    await c.startMigration({ node: "node1", type: "qemu", vmid: 101, target: "node2" });
    expect(seen).toEqual([["/nodes/node1/qemu/101/migrate", { running: 1, allowed_nodes: ["node2"] }]]);
  });

  it("POSTs a migration with form parameters and returns the UPID", async () => {
    server.handle((_req, res) => sendPve(res, 200, { data: UPID }));
    const upid = await client().startMigration({
      node: "node1",
      type: "qemu",
      vmid: 101,
      target: "node2",
      online: true,
      withLocalDisks: false,
    });
    expect(upid).toBe(UPID);
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]?.method).toBe("POST");
    expect(server.requests[0]?.url).toBe("/api2/json/nodes/node1/qemu/101/migrate");
    expect(new URLSearchParams(server.requests[0]?.body)).toEqual(
      new URLSearchParams({ target: "node2", online: "1", "with-local-disks": "0" }),
    );
  });

  it("encodes the UPID in task paths and keeps the log total", async () => {
    server.handle((_req, res) =>
      sendPve(res, 200, {
        data: [
          { n: 2, t: "line two" },
          { n: 3, t: "line three" },
        ],
        total: 7,
      }),
    );
    const page = await client().taskLog("node1", UPID, { start: 1, limit: 2 });
    expect(page).toEqual({
      lines: [
        { n: 2, t: "line two" },
        { n: 3, t: "line three" },
      ],
      total: 7,
    });
    expect(server.requests[0]?.url).toBe(
      `/api2/json/nodes/node1/tasks/${encodeURIComponent(UPID)}/log?start=1&limit=2`,
    );
  });

  it("treats a missing /cluster/ha/rules (501 on PVE < 9) as no rules", async () => {
    server.handle((req, res) =>
      sendPve(res, 501, { data: null }, `Method 'GET ${req.url.replace("/api2/json", "")}' not implemented`),
    );
    expect(await client().haRules()).toEqual([]);
  });

  it("refuses an answer of the wrong shape with PveResponseInvalid", async () => {
    server.handle((_req, res) => sendPve(res, 200, { data: { cpu: "high" } }));
    const e = await failure(client().nodeStatus("node1"));
    expect(e.code).toBe(ErrorCodes.PveResponseInvalid);
    expect(e.message).toContain("GET /nodes/node1/status");
  });

  it("requires PVE's exact content type and says which one it got", async () => {
    server.handle((_req, res) => {
      res.setHeader("content-type", "application/json; charset=utf-8");
      res.end(JSON.stringify({ data: [] }));
    });
    const e = await failure(client().clusterStatus());
    expect(e.code).toBe(ErrorCodes.PveResponseInvalid);
    expect(e.message).toContain('"application/json; charset=utf-8"');
    expect(e.message).toContain("application/json;charset=UTF-8");
  });
});

describe("HTTP adapter: typed errors", () => {
  it("400 carries PVE's parameter errors", async () => {
    server.handle((_req, res) =>
      sendPve(
        res,
        400,
        { data: null, errors: { target: "no such cluster node 'node9'\n" } },
        "Parameter verification failed.",
      ),
    );
    const e = await failure(
      client().startMigration({ node: "node1", type: "qemu", vmid: 101, target: "node9" }),
    );
    expect(e.code).toBe(ErrorCodes.PveApi);
    expect(e.detail).toEqual({
      method: "POST",
      path: "/nodes/node1/qemu/101/migrate",
      status: 400,
      pveMessage: "Parameter verification failed.",
      errors: { target: "no such cluster node 'node9'" },
    });
    expect(e.message).toContain("target: no such cluster node 'node9'");
  });

  it("500 carries PVE's message", async () => {
    server.handle((_req, res) =>
      sendPve(
        res,
        500,
        { data: null, message: "Configuration file 'nodes/node1/qemu-server/999.conf' does not exist\n" },
        "Configuration file 'nodes/node1/qemu-server/999.conf' does not exist",
      ),
    );
    const e = await failure(client().guestConfig({ node: "node1", type: "qemu", vmid: 999 }));
    expect(e.detail.status).toBe(500);
    expect(e.detail.path).toBe("/nodes/node1/qemu/999/config");
    expect(e.detail.pveMessage).toBe("Configuration file 'nodes/node1/qemu-server/999.conf' does not exist");
    expect(server.requests).toHaveLength(1);
  });

  it("401 and 403 come with a remedy and are not retried", async () => {
    server.handle((_req, res) => sendPve(res, 401, { data: null }, "authentication failure"));
    const e401 = await failure(client().clusterStatus());
    expect(e401.detail.status).toBe(401);
    expect(e401.remedy).toMatch(/token/i);
    expect(server.requests).toHaveLength(1);

    server.handle((_req, res) =>
      sendPve(res, 403, { data: null }, "Permission check failed (/vms/101, VM.Migrate)"),
    );
    const e403 = await failure(client().migratePrecondition({ node: "node1", type: "qemu", vmid: 101 }));
    expect(e403.detail.pveMessage).toBe("Permission check failed (/vms/101, VM.Migrate)");
    expect(e403.remedy).toMatch(/privilege/);
  });

  it("never lets the token into an error, even when the server echoes it back", async () => {
    server.handle((req, res) =>
      sendPve(
        res,
        500,
        { data: null, message: `bad header ${req.authorization}`, errors: { auth: `${req.authorization}` } },
        "echo",
      ),
    );
    const e = await failure(client().clusterStatus());
    expect(e.message).toContain("[redacted]");
    expect(inspect(e, { depth: 10, showHidden: true })).not.toContain(SECRET);
  });

  it("rejects a token secret that is not a UUID without echoing it", () => {
    let e: unknown;
    try {
      client({ tokenSecret: new Secret("Not-A-Uuid-secret-value") });
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(ConfigError);
    expect(inspect(e, { depth: 10 })).not.toContain("Not-A-Uuid-secret-value");
  });
});

describe("HTTP adapter: retries and timeouts", () => {
  it("retries a GET after 503 with backoff, then succeeds", async () => {
    let n = 0;
    server.handle((_req, res) => {
      n++;
      if (n === 1) sendPve(res, 503, { data: null }, "Service Unavailable");
      else sendPve(res, 200, { data: [] });
    });
    expect(await client({ backoffBaseMs: 100 }).clusterStatus()).toEqual([]);
    expect(server.requests).toHaveLength(2);
    expect(sleeps).toEqual([50]);
  });

  it("gives up after the configured retries with exponential backoff", async () => {
    server.handle((_req, res) => sendPve(res, 595, { data: null }, "No route to host"));
    const e = await failure(client({ retries: 3, backoffBaseMs: 100, random: () => 1 }).nodeStatus("node2"));
    expect(e.detail.status).toBe(595);
    expect(e.remedy).toMatch(/unreachable/);
    expect(server.requests).toHaveLength(4);
    expect(sleeps).toEqual([100, 200, 400]);
  });

  it("never retries a POST, even on 503", async () => {
    server.handle((_req, res) => sendPve(res, 503, { data: null }, "Service Unavailable"));
    const e = await failure(
      client().startMigration({ node: "node1", type: "qemu", vmid: 101, target: "node2" }),
    );
    expect(e.detail.status).toBe(503);
    expect(server.requests).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it("does not re-send a migrate POST after a connection reset, and says how to check", async () => {
    server.handle((_req, _res, raw) => raw.socket.destroy());
    const e = await failure(
      client({ retries: 5 }).startMigration({
        node: "node1",
        type: "qemu",
        vmid: 101,
        target: "node2",
        online: true,
      }),
    );
    expect(server.requests).toHaveLength(1);
    expect(e.code).toBe(ErrorCodes.MigrateNotRetried);
    expect(e.message).toContain("may or may not have started");
    expect(e.message).toContain("/nodes/node1/tasks?vmid=101");
  });

  it("retries a GET after a connection reset", async () => {
    let n = 0;
    server.handle((_req, res, raw) => {
      n++;
      if (n === 1) raw.socket.destroy();
      else sendPve(res, 200, { data: [] });
    });
    expect(await client().clusterStatus()).toEqual([]);
    expect(server.requests).toHaveLength(2);
  });

  it("reports a refused connection as unreachable; a POST that never left is not 'maybe started'", async () => {
    const closed = await startTestServer(pki);
    const port = closed.port;
    await closed.close();
    const e = await failure(
      client({ port, retries: 0 }).startMigration({
        node: "node1",
        type: "qemu",
        vmid: 101,
        target: "node2",
      }),
    );
    expect(e.code).toBe(ErrorCodes.PveUnreachable);
    expect(e.message).toContain("ECONNREFUSED");
  });

  it("times out a request that gets no answer (PveUnreachable)", async () => {
    server.handle(() => {
      // never answers
    });
    const e = await failure(client({ timeoutMs: 150, retries: 1 }).clusterStatus());
    expect(e.code).toBe(ErrorCodes.PveUnreachable);
    expect(e.message).toContain("no answer within 150 ms");
    expect(server.requests).toHaveLength(2);
  });
});

describe("HTTP adapter: TLS trust", () => {
  it("accepts the pinned fingerprint in any notation", async () => {
    server.handle((_req, res) => sendPve(res, 200, { data: [] }));
    const plainHex = pki.fingerprint.replace(/:/g, "").toLowerCase();
    expect(await client({ fingerprint: plainHex }).clusterStatus()).toEqual([]);
  });

  it("rejects a certificate whose fingerprint differs, before sending anything", async () => {
    const wrong = `${"AB:".repeat(31)}AB`;
    const e = await failure(client({ fingerprint: wrong }).clusterStatus());
    expect(e.code).toBe(ErrorCodes.PveTls);
    expect(e.message).toContain(pki.fingerprint);
    expect(e.message).toContain(wrong);
    expect(server.requests).toHaveLength(0);
    expect(sleeps).toEqual([]);
  });

  it("verifies against a CA file from the config", async () => {
    server.handle((_req, res) => sendPve(res, 200, { data: [] }));
    const dir = mkdtempSync(join(tmpdir(), "pve-ca-"));
    try {
      writeFileSync(join(dir, "ca.pem"), pki.caPem);
      const config = PveConfig.parse({
        host: "127.0.0.1",
        port: server.port,
        tokenId: TOKEN_ID,
        tokenSecret: SECRET,
        caFile: join(dir, "ca.pem"),
      });
      const options = httpClientOptionsFromConfig(config);
      const c = createHttpPveClient(options);
      clients.push(c);
      expect(await c.clusterStatus()).toEqual([]);
      expect(inspect(options)).not.toContain(SECRET);
      expect(() => httpClientOptionsFromConfig({ ...config, caFile: join(dir, "missing.pem") })).toThrow(
        /PVE_CA_FILE: cannot read .*missing\.pem \(ENOENT\)/,
      );
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it("rejects a certificate from another CA", async () => {
    const e = await failure(client({ fingerprint: undefined, caPem: pki.otherCaPem }).clusterStatus());
    expect(e.code).toBe(ErrorCodes.PveTls);
    expect(e.message).toContain("PVE_CA_FILE");
    expect(server.requests).toHaveLength(0);
  });
});

describe("HTTP adapter: secrets", () => {
  it("no error seen in this file carries the token, however it is printed", () => {
    expect(thrown.length).toBeGreaterThan(10);
    for (const e of thrown) {
      expect(inspect(e, { depth: 10, showHidden: true })).not.toContain(SECRET);
      expect(JSON.stringify(e)).not.toContain(SECRET);
      expect(String(e)).not.toContain(SECRET);
    }
  });
});
