import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { register } from "./demo.ts";
import { runCli } from "./program.ts";

const dir = mkdtempSync(join(tmpdir(), "demo-charts-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("pve-evacuate demo", () => {
  it("evacuates node1 of the lab end to end and writes one chart per moved VM", async () => {
    let out = "";
    let err = "";
    const code = await runCli(["demo", "--charts", dir, "--time-scale", "40"], [register], {
      stdout: (t) => {
        out += t;
      },
      stderr: (t) => {
        err += t;
      },
    });
    expect({ code, err: code === 0 ? "" : err }).toEqual({ code: 0, err: "" });
    expect(out).toContain("> /evacuate node:node1");
    expect(out).toMatch(/Blocked \(1\)[\s\S]*VM 104 gpu-104: local resource hostpci0/);
    expect(out).toContain("Confirmed by demo operator");
    for (const vm of ["VM 101 (idle-101)", "VM 102 (video-102)", "VM 103 (game-103)"])
      expect(out).toContain(`${vm} node1 →`);
    expect(out).toMatch(/Evacuation of node1 completed: 3 moved/);
    expect(out).toMatch(/hash chain intact/);
    expect(out).toMatch(/Client-observed downtime: \d+ ms/);
    const charts = readdirSync(dir).filter((f) => f.endsWith(".png"));
    expect(charts).toHaveLength(3);
    expect(existsSync(join(dir, charts[0] ?? ""))).toBe(true);
  }, 90_000);
});
