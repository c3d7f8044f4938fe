/**
 * The HTTP adapter against the lab over real HTTPS: the PveClient contract with the pinned fingerprint
 * and token auth, a migrate POST round trip, and the CA-file path.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningLab, startLab } from "../lab/server.ts";
import { ErrorCodes, PveApiError } from "../lib/errors.ts";
import { Secret } from "../lib/secret.ts";
import { describePveClientContract } from "./contract.ts";
import { createHttpPveClient, type HttpClientOptions, type HttpPveClient } from "./httpClient.ts";
import type { PveClient } from "./port.ts";
import { createReplayClient, recordSnapshot } from "./snapshot.ts";
import { parseUpid } from "./upid.ts";

function optionsFor(lab: RunningLab, overrides: Partial<HttpClientOptions> = {}): HttpClientOptions {
  return {
    host: lab.host,
    port: lab.port,
    tokenId: lab.tokenId,
    tokenSecret: new Secret(lab.tokenSecret),
    fingerprint: lab.fingerprint,
    timeoutMs: 10_000,
    retries: 2,
    sleep: async () => {},
    ...overrides,
  };
}

async function waitForTask(client: PveClient, upid: string) {
  const node = parseUpid(upid).node;
  for (;;) {
    const status = await client.taskStatus(node, upid);
    if (status.status === "stopped") return status;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function migrateOneRunningVm(client: PveClient) {
  const resources = await client.clusterResources();
  const vm = resources.find((r) => r.type === "qemu" && r.status === "running");
  if (!vm?.node || vm.vmid === undefined) throw new Error("the lab has no running VM");
  const ref = { node: vm.node, type: "qemu" as const, vmid: vm.vmid };
  const pre = await client.migratePrecondition(ref);
  const target = (pre.allowed_nodes ?? [])[0];
  if (!target) throw new Error(`the lab offers no target for VM ${vm.vmid}`);
  const upid = await client.startMigration({ ...ref, target, online: true });
  return { ref, target, upid, status: await waitForTask(client, upid) };
}

describePveClientContract("HTTP client (lab, pinned fingerprint)", async () => {
  const lab = await startLab({ port: 0, nodes: 3, vms: 4, seed: 7, timeScale: 1000, responders: false });
  const client = createHttpPveClient(optionsFor(lab));
  // The contract needs a finished guest task with a log; a real migration makes one.
  await migrateOneRunningVm(client);
  return {
    client,
    close: async () => {
      await client.close();
      await lab.close();
    },
  };
});

describe("HTTP client against the lab", () => {
  let lab: RunningLab;
  const clients: HttpPveClient[] = [];
  const client = (overrides: Partial<HttpClientOptions> = {}) => {
    const c = createHttpPveClient(optionsFor(lab, overrides));
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    lab = await startLab({
      port: 0,
      nodes: 3,
      vms: 4,
      seed: 11,
      timeScale: 1000,
      responders: false,
      authFailureDelayMs: 10,
    });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await lab.close();
  });

  it("round-trips a live migration: POST once, UPID, task OK, VM on the target", async () => {
    const c = client();
    const { ref, target, upid, status } = await migrateOneRunningVm(c);
    expect(parseUpid(upid)).toMatchObject({ node: ref.node, type: "qmigrate", id: String(ref.vmid) });
    expect(status.exitstatus).toBe("OK");
    const moved = (await c.clusterResources("vm")).find((r) => r.vmid === ref.vmid);
    expect(moved?.node).toBe(target);
    const log = await c.taskLog(ref.node, upid);
    expect(log.lines.at(-1)?.t).toBe("TASK OK");
    const truth = lab.groundTruth().filter((m) => m.vmid === ref.vmid);
    expect(truth).toHaveLength(1);
  });

  it("verifies the lab certificate through its CA as well", async () => {
    const c = client({ fingerprint: undefined, caPem: lab.caPem });
    expect((await c.clusterStatus()).length).toBeGreaterThan(0);
  });

  it("a wrong token secret is a 401 with a remedy", async () => {
    const c = client({ tokenSecret: new Secret("00000000-0000-4000-8000-000000000000") });
    const e = await c.clusterStatus().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(PveApiError);
    expect((e as PveApiError).code).toBe(ErrorCodes.PveApi);
    expect((e as PveApiError).detail.status).toBe(401);
    expect((e as PveApiError).remedy).toMatch(/token/i);
  });

  it("a wrong fingerprint never reaches the lab", async () => {
    const e = await client({ fingerprint: "00".repeat(32) })
      .clusterStatus()
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect((e as PveApiError).code).toBe(ErrorCodes.PveTls);
    expect((e as PveApiError).message).toContain(lab.fingerprint);
  });

  it("retries a GET through a transient 503, but sends a migrate POST that got 503 only once", async () => {
    const c = client();
    lab.faults.add({ kind: "api-error", path: "/cluster/status", method: "GET", status: 503, times: 1 });
    expect((await c.clusterStatus()).length).toBeGreaterThan(0);

    const vm = (await c.clusterResources("vm")).find((r) => r.type === "qemu" && r.status === "running");
    if (!vm?.node || vm.vmid === undefined) throw new Error("the lab has no running VM");
    const before = lab.groundTruth().length;
    lab.faults.add({
      kind: "api-error",
      path: `/nodes/${vm.node}/qemu/${vm.vmid}/migrate`,
      method: "POST",
      status: 503,
      times: 1,
    });
    const target = (await c.clusterResources("node")).find(
      (n) => n.node !== vm.node && n.status === "online",
    )?.node;
    const e = await c
      .startMigration({ node: vm.node, type: "qemu", vmid: vm.vmid, target: target ?? "node1", online: true })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect((e as PveApiError).detail.status).toBe(503);
    expect(lab.groundTruth()).toHaveLength(before);
  });

  it("records a snapshot that replays like the lab answered and builds a new lab", async () => {
    const c = client();
    const snapshot = await recordSnapshot(c);
    const replay = createReplayClient(snapshot);
    // Usage figures move between two reads of a live lab; identity and capacity must match.
    const stable = (
      rs: {
        id: string;
        node?: string | undefined;
        status?: string | undefined;
        maxmem?: number | undefined;
      }[],
    ) => rs.map(({ id, node, status, maxmem }) => ({ id, node, status, maxmem }));
    expect(stable(await replay.clusterResources())).toEqual(stable(await c.clusterResources()));
    for (const node of (await c.clusterResources("node")).filter((n) => n.status === "online")) {
      const name = node.node ?? "";
      expect((await replay.nodeStatus(name)).memory.total).toBe((await c.nodeStatus(name)).memory.total);
    }
    const vm = (await c.clusterResources("vm")).find((r) => r.type === "qemu" && r.node !== undefined);
    if (vm?.node === undefined || vm.vmid === undefined) throw new Error("the lab has no VM");
    const ref = { node: vm.node, type: "qemu" as const, vmid: vm.vmid };
    expect(await replay.guestConfig(ref)).toEqual(await c.guestConfig(ref));
    const second = await startLab({ port: 0, fromSnapshot: snapshot, responders: false });
    const c2 = createHttpPveClient(optionsFor(second));
    try {
      const vmids = (rs: { vmid?: number | undefined }[]) => rs.map((r) => r.vmid).sort();
      expect(vmids(await c2.clusterResources("vm"))).toEqual(vmids(await c.clusterResources("vm")));
    } finally {
      await c2.close();
      await second.close();
    }
  });
});
