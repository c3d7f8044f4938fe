import { afterEach, describe, expect, it } from "vitest";
import { createMetrics, recordMigrationResult } from "./metrics.ts";
import { type OpsServer, runHealthChecks, startOpsServer } from "./opsServer.ts";
import { fakeResult } from "./testFixtures.ts";

let server: OpsServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("ops server", () => {
  it("serves /metrics in Prometheus text format", async () => {
    const m = createMetrics();
    recordMigrationResult(m, fakeResult());
    server = await startOpsServer({
      port: 0,
      host: "127.0.0.1",
      registry: m.registry,
      health: async () => ({ ok: true, checks: {} }),
    });
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    expect(await res.text()).toContain('pve_evacuate_migrations_total{status="succeeded"} 1');
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    expect((await fetch(`${server.url}/metrics`, { method: "POST" })).status).toBe(405);
  });

  it("answers /healthz 200 when every check passes and 503 otherwise", async () => {
    let workerRunning = true;
    server = await startOpsServer({
      port: 0,
      host: "127.0.0.1",
      registry: createMetrics().registry,
      health: () =>
        runHealthChecks({
          redis: async () => ({ ok: true }),
          worker: async () => (workerRunning ? { ok: true } : { ok: false, detail: "stopped" }),
        }),
    });
    const up = await fetch(`${server.url}/healthz`);
    expect(up.status).toBe(200);
    expect(await up.json()).toEqual({ ok: true, checks: { redis: { ok: true }, worker: { ok: true } } });
    workerRunning = false;
    const down = await fetch(`${server.url}/healthz`);
    expect(down.status).toBe(503);
    expect(await down.json()).toEqual({
      ok: false,
      checks: { redis: { ok: true }, worker: { ok: false, detail: "stopped" } },
    });
  });

  it("counts a hanging or throwing check as failed", async () => {
    const h = await runHealthChecks(
      {
        hangs: () => new Promise(() => {}),
        throws: async () => {
          throw new Error("boom");
        },
      },
      50,
    );
    expect(h.ok).toBe(false);
    expect(h.checks.hangs?.detail).toContain("longer than 50 ms");
    expect(h.checks.throws?.detail).toBe("boom");
  });
});
