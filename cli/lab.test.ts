import { describe, expect, it } from "vitest";
import type { RunningLab } from "../lab/server.ts";
import { startLab } from "../lab/server.ts";
import { registerLab } from "./lab.ts";
import { runCli } from "./program.ts";

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t) }, out, err };
}

describe("pve-evacuate lab", () => {
  it("starts the lab, prints connection details as JSON, and closes it when stopped", async () => {
    let started: RunningLab | undefined;
    const { io, out } = capture();
    const register = registerLab({
      start: async (o) => {
        started = await startLab({ ...o, responders: false });
        return started;
      },
      untilStopped: async () => {},
    });
    const code = await runCli(
      ["lab", "--port", "0", "--nodes", "2", "--vms", "4", "--json", "--fault", "node-offline:node2"],
      [register],
      io,
    );
    expect(code).toBe(0);
    const printed = JSON.parse(out.join("")) as { env: Record<string, string>; nodes: { node: string }[] };
    expect(Object.keys(printed.env)).toEqual([
      "PVE_HOST",
      "PVE_PORT",
      "PVE_TOKEN_ID",
      "PVE_TOKEN_SECRET",
      "PVE_FINGERPRINT",
    ]);
    expect(printed.env.PVE_PORT).toBe(String(started?.port));
    expect(printed.nodes.map((n) => n.node)).toEqual(["node1", "node2"]);
    expect(started?.cluster.node("node2")?.online).toBe(false);
    // closed: the port no longer answers
    await expect(fetch(`${started?.url}/lab/vms`)).rejects.toThrow();
  });

  it("prints paste-ready env lines and says the secret is throwaway", async () => {
    const { io, out } = capture();
    const register = registerLab({
      start: (o) => startLab({ ...o, responders: false }),
      untilStopped: async () => {},
    });
    expect(
      await runCli(
        ["lab", "--port", "0", "--token-secret", "12345678-1234-4234-8234-123456789abc"],
        [register],
        io,
      ),
    ).toBe(0);
    const text = out.join("");
    expect(text).toMatch(/^PVE_TOKEN_SECRET=12345678-1234-4234-8234-123456789abc$/m);
    expect(text).toMatch(/throwaway/);
  });

  it("refuses bad options with a message naming them", async () => {
    const { io, err } = capture();
    const register = registerLab({
      start: () => Promise.reject(new Error("must not start")),
      untilStopped: async () => {},
    });
    expect(await runCli(["lab", "--token-secret", "NOT-A-UUID"], [register], io)).toBe(1);
    expect(err.join("")).toMatch(/--token-secret must be a lowercase UUID/);
    expect(await runCli(["lab", "--fault", "explode:now"], [register], io)).toBe(1);
    expect(err.join("")).toMatch(/unknown kind "explode"/);
  });
});
