import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { buildClusterData } from "../planning/fixtures/build.ts";
import { fakePveClient } from "../planning/fixtures/fakeClient.ts";
import { registerPlan } from "./plan.ts";
import { type CliIo, runCli } from "./program.ts";

const SNAPSHOT = fileURLToPath(new URL("../proxmox/fixtures/snapshot-small.json", import.meta.url));
const GiB = 1024 ** 3;

const data = buildClusterData({
  nodes: [
    { name: "node1", memGiB: 64, usedGiB: 40 },
    { name: "node2", memGiB: 64, usedGiB: 40 },
    { name: "node3", memGiB: 64, usedGiB: 10 },
    { name: "node4", memGiB: 64, online: false },
  ],
  guests: [
    { vmid: 101, node: "node1", name: "web", memMiB: 2048 },
    { vmid: 102, node: "node1", name: "db", memMiB: 16384 },
    { vmid: 103, node: "node1", name: "old", memMiB: 4096, status: "stopped" },
    { vmid: 105, node: "node1", name: "dns", type: "lxc", memMiB: 512 },
    { vmid: 106, node: "node1", name: "gpu", memMiB: 8192, extraConfig: { hostpci0: "0000:01:00.0" } },
  ],
});

async function run(args: string[], env: NodeJS.ProcessEnv = {}) {
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
  let closed = 0;
  const register = registerPlan({
    env,
    connect: () => ({ ...fakePveClient(data), source: "fixture", close: async () => void closed++ }),
  });
  const code = await runCli(["plan", ...args], [register], io);
  return { code, stdout, stderr, closed };
}

describe("pve-evacuate plan", () => {
  it("prints a readable plan", async () => {
    const { code, stdout, closed } = await run(["node1"]);
    expect(code).toBe(0);
    expect(closed).toBe(1);
    expect(stdout).toBe(
      [
        "Evacuation plan for node1 (headroom 1.0 GiB, order smallest-first)",
        "Data: fixture",
        "",
        "Moves (2), in this order:",
        "  #  VMID  NAME  TYPE  MEMORY    MOVE           MODE",
        "  1  101   web   qemu  2.0 GiB   node1 → node3  live",
        "  2  102   db    qemu  16.0 GiB  node1 → node3  live",
        "",
        "Blocked (1): cannot move until the reason is fixed",
        "  106 gpu (qemu)",
        "      - local resource hostpci0 ties it to node1: remove the passthrough, or map the device on every node (Datacenter → Resource Mappings)",
        "",
        "Skipped (2): left on node1",
        "  103 old (qemu): stopped: pass --include-stopped to move it offline",
        "  105 dns (lxc): container: moving it means a restart migration (it goes down); pass --include-containers to move it",
        "",
        "Targets:",
        "  NODE   FREE NOW  FREE AFTER  MOVES  NOTE",
        "  node2  24.0 GiB  24.0 GiB    0",
        "  node3  54.0 GiB  36.0 GiB    2",
        "  node4  0.0 B     0.0 B       0      offline",
        "",
      ].join("\n"),
    );
  });

  it("prints the JSON contract", async () => {
    const { code, stdout } = await run(["node1", "--json", "--include-stopped", "--include-containers"]);
    expect(code).toBe(0);
    const plan = JSON.parse(stdout);
    expect(plan.source).toBe("node1");
    expect(plan.moves.map((m: { vmid: number }) => m.vmid)).toEqual([103, 105, 101, 102]);
    expect(plan.moves[1]).toMatchObject({
      vmid: 105,
      name: "dns",
      type: "lxc",
      target: "node3",
      memoryBytes: 512 * 1024 ** 2,
      mode: "restart",
      order: 2,
    });
    expect(plan.blocked).toEqual([{ vmid: 106, name: "gpu", type: "qemu", reasons: [expect.any(String)] }]);
    expect(plan.skipped).toEqual([]);
    expect(plan.targets[0]).toEqual({
      node: "node2",
      memoryFreeBytes: 24 * GiB,
      memoryFreeAfterBytes: 24 * GiB,
      moves: 0,
    });
  });

  it("forces a target", async () => {
    const { stdout } = await run(["node1", "--json", "--target", "node2"]);
    const plan = JSON.parse(stdout);
    expect(plan.moves.map((m: { target: string }) => m.target)).toEqual(["node2", "node2"]);
  });

  it("exits non-zero with a clear message for an unknown, offline or empty node", async () => {
    const unknown = await run(["nodeX"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe("error: Unknown node 'nodeX'. Known nodes: node1, node2, node3, node4.\n");
    expect(unknown.closed).toBe(1);
    const offline = await run(["node4"]);
    expect(offline.code).toBe(1);
    expect(offline.stderr).toMatch(/Node 'node4' is offline/);
    const empty = await run(["node2"]);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/Node 'node2' has no guests: nothing to evacuate/);
  });

  it("plans from a snapshot file with --cluster", async () => {
    let stdout = "";
    const io: CliIo = {
      stdout: (t) => {
        stdout += t;
      },
      stderr: () => {},
    };
    const code = await runCli(
      ["plan", "node1", "--cluster", SNAPSHOT, "--json"],
      [registerPlan({ env: {} })],
      io,
    );
    expect(code).toBe(0);
    const plan = JSON.parse(stdout);
    expect(plan.source).toBe("node1");
    expect(plan.moves.length + plan.blocked.length + plan.skipped.length).toBeGreaterThan(0);
    for (const m of plan.moves) expect(m.target).not.toBe("node1");
  });
});
