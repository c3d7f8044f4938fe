import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type RunningLab, startLab } from "../lab/server.ts";
import { registerLab } from "./lab.ts";
import { runCli } from "./program.ts";

const quiet = { stdout: () => {}, stderr: () => {} };

describe("pve-evacuate lab --fingerprint-file / --ca-file", () => {
  it("writes the fingerprint and the CA while serving and removes them on exit", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lab-fp-"));
    const file = join(dir, "fingerprint");
    const ca = join(dir, "ca.pem");
    let caWhileServing: string | undefined;
    let lab: RunningLab | undefined;
    let seenWhileServing: string | undefined;
    const register = registerLab({
      start: async (o) => {
        lab = await startLab({ ...o, responders: false });
        return lab;
      },
      untilStopped: async () => {
        seenWhileServing = readFileSync(file, "utf8");
        caWhileServing = readFileSync(ca, "utf8");
      },
    });
    try {
      const argv = ["lab", "--port", "0", "--fingerprint-file", file, "--ca-file", ca];
      expect(await runCli(argv, [register], quiet)).toBe(0);
      expect(seenWhileServing).toBe(`${lab?.fingerprint}\n`);
      expect(caWhileServing).toBe(lab?.caPem);
      expect(existsSync(file)).toBe(false);
      expect(existsSync(ca)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses an unwritable path and does not leave the lab running", async () => {
    let lab: RunningLab | undefined;
    const err: string[] = [];
    const register = registerLab({
      start: async (o) => {
        lab = await startLab({ ...o, responders: false });
        return lab;
      },
      untilStopped: async () => {},
    });
    const code = await runCli(
      ["lab", "--port", "0", "--fingerprint-file", "/nonexistent-dir/fingerprint"],
      [register],
      { stdout: () => {}, stderr: (t) => err.push(t) },
    );
    expect(code).toBe(1);
    expect(err.join("")).toContain("--fingerprint-file /nonexistent-dir/fingerprint");
    await expect(fetch(`${lab?.url}/lab/vms`)).rejects.toThrow();
  });
});
