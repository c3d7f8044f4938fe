import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadSnapshotFile, SNAPSHOT_FORMAT, snapshotTransport } from "../proxmox/snapshot.ts";
import { makeTestPki, serveSnapshotGets, startTestServer, type TestServer } from "../proxmox/testHttps.ts";
import { type CliIo, runCli } from "./program.ts";
import { registerSnapshot } from "./snapshot.ts";

const FIXTURE = fileURLToPath(new URL("../proxmox/fixtures/snapshot-small.json", import.meta.url));
const NOW = new Date("2026-03-01T12:00:00.000Z");

describe("pve-evacuate snapshot", () => {
  let server: TestServer;
  let env: NodeJS.ProcessEnv;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "pve-snap-cli-"));
    const pki = await makeTestPki();
    server = await startTestServer(pki);
    const transport = snapshotTransport(loadSnapshotFile(FIXTURE));
    serveSnapshotGets(server, async (path, query) => (await transport.request("GET", path, query)).data);
    env = {
      PVE_HOST: "127.0.0.1",
      PVE_PORT: String(server.port),
      PVE_TOKEN_ID: "evacuate@pve!cli",
      PVE_TOKEN_SECRET: "33333333-4444-4555-8666-777777777777",
      PVE_FINGERPRINT: pki.fingerprint,
      PVE_RETRIES: "0",
    };
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true });
  });

  async function run(args: string[], runEnv: NodeJS.ProcessEnv = env) {
    let stdout = "";
    let stderr = "";
    const io: CliIo = {
      stdout: (t) => {
        stdout += t;
      },
      stderr: (t) => {
        stderr += t;
      },
    };
    const code = await runCli(["snapshot", ...args], [registerSnapshot({ env: runEnv, now: () => NOW })], io);
    return { code, stdout, stderr };
  }

  it("prints the snapshot as JSON on stdout and warns about what it left out", async () => {
    const { code, stdout, stderr } = await run([]);
    expect(code).toBe(0);
    const snapshot = JSON.parse(stdout);
    expect(snapshot._meta).toEqual({
      format: SNAPSHOT_FORMAT,
      recordedAt: NOW.toISOString(),
      source: `127.0.0.1:${server.port}`,
    });
    expect(snapshot["/nodes/node1/qemu/101/migrate"].running).toBe(1);
    expect(stderr).toContain("warning: left out /nodes/node3/status: node node3 is offline");
    expect(stderr).toContain("warning: left out /cluster/ha/rules: not available on this PVE version");
  });

  it("--out writes a file that loads back", async () => {
    const out = join(dir, "cluster.json");
    const { code, stdout, stderr } = await run(["--out", out]);
    expect(code).toBe(0);
    expect(stdout).toBe("");
    expect(stderr).toMatch(/wrote 15 API answers from 127\.0\.0\.1:\d+ to .*cluster\.json/);
    expect(loadSnapshotFile(out)["/cluster/resources"]).toEqual(
      loadSnapshotFile(FIXTURE)["/cluster/resources"],
    );
  });

  it("fails with a message when the cluster cannot be reached", async () => {
    const { code, stderr } = await run([], { ...env, PVE_PORT: "1" });
    expect(code).toBe(1);
    expect(stderr).toContain("cannot reach 127.0.0.1:1");
  });

  it("fails with a message when nothing is configured", async () => {
    const { code, stderr } = await run([], {});
    expect(code).toBe(1);
    expect(stderr).toContain("PVE_HOST");
  });
});
