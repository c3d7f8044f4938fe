import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, ErrorCodes, UserError } from "../lib/errors.ts";
import { createReplayClient, loadSnapshotFile, snapshotTransport } from "../proxmox/snapshot.ts";
import { makeTestPki, serveSnapshotGets, startTestServer, type TestServer } from "../proxmox/testHttps.ts";
import { pveClientFromEnv, withPveClient } from "./connect.ts";

const FIXTURE = fileURLToPath(new URL("../proxmox/fixtures/snapshot-small.json", import.meta.url));
const SECRET = "22222222-3333-4444-8555-666666666666";

describe("pveClientFromEnv", () => {
  let server: TestServer;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    const pki = await makeTestPki();
    server = await startTestServer(pki);
    const transport = snapshotTransport(loadSnapshotFile(FIXTURE));
    serveSnapshotGets(server, async (path, query) => (await transport.request("GET", path, query)).data);
    env = {
      PVE_HOST: "127.0.0.1",
      PVE_PORT: String(server.port),
      PVE_TOKEN_ID: "evacuate@pve!cli",
      PVE_TOKEN_SECRET: SECRET,
      PVE_FINGERPRINT: pki.fingerprint,
    };
  });
  afterAll(async () => {
    await server.close();
  });

  it("builds the HTTP client from the environment", async () => {
    const vms = await withPveClient({ env }, async (client) => {
      expect(client.readOnly).toBe(false);
      expect(client.source).toBe(`127.0.0.1:${server.port}`);
      return client.clusterResources("vm");
    });
    expect(vms.map((v) => v.vmid)).toEqual([101, 102, 103, 201]);
    expect(server.requests[0]?.authorization).toBe(`PVEAPIToken=evacuate@pve!cli=${SECRET}`);
  });

  it("replays a snapshot with --cluster, read-only", async () => {
    const client = pveClientFromEnv({ cluster: FIXTURE, env: {} });
    expect(client.readOnly).toBe(true);
    expect(client.source).toContain("snapshot-small.json");
    expect(await client.clusterResources()).toEqual(
      await createReplayClient(loadSnapshotFile(FIXTURE)).clusterResources(),
    );
    const refused = await client
      .startMigration({ node: "node1", type: "qemu", vmid: 101, target: "node2" })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect((refused as UserError).code).toBe(ErrorCodes.SnapshotReadOnly);
  });

  it("says what to configure when there is no cluster", () => {
    expect(() => pveClientFromEnv({ env: {} })).toThrow(ConfigError);
    expect(() => pveClientFromEnv({ env: {} })).toThrow(/PVE_HOST.*--cluster FILE/);
    expect(() => pveClientFromEnv({ cluster: "/nonexistent/snap.json" })).toThrow(UserError);
  });
});
