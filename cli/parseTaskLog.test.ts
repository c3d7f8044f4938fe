import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { formatDurationMs, registerParseTaskLog } from "./parseTaskLog.ts";
import { type CliIo, runCli } from "./program.ts";

const FIXTURES = fileURLToPath(new URL("../proxmox/fixtures/", import.meta.url));
const VM105 = `${FIXTURES}tasklog-qm-live-ok-vm105-ha-pve8.log`;

async function run(args: string[], stdin = "") {
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
  const registry = [registerParseTaskLog({ readStdin: async () => stdin })];
  const code = await runCli(["parse-task-log", ...args], registry, io);
  return { code, stdout, stderr };
}

describe("pve-evacuate parse-task-log", () => {
  it("prints a human summary of a completed migration", async () => {
    const { code, stdout, stderr } = await run([VM105]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toContain("Status:        completed (TASK OK)");
    expect(stdout).toContain("VM:            105 (started by the HA resource agent)");
    expect(stdout).toContain("Route:         ? → pve1 (10.10.1.1)");
    expect(stdout).toContain("Duration:      18 s");
    expect(stdout).toContain("PVE downtime:  73 ms (limit 100 ms)");
    expect(stdout).toContain("VM state:      2.5 GiB transferred of 4.0 GiB");
    expect(stdout).toContain("Average speed: 457.0 MiB/s");
    expect(stdout).not.toContain("Error");
  });

  it("--json prints the full report; --upid fills in the source node", async () => {
    const upid = "UPID:pve2:0001E240:00ABCDEF:67787E90:qmigrate:105:root@pam:";
    const { code, stdout } = await run([VM105, "--json", "--upid", upid]);
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({
      status: "completed",
      vmid: 105,
      sourceNode: "pve2",
      targetNode: "pve1",
      downtimeMs: 73,
      durationMs: 18000,
      upid,
    });
    expect(report.progress).toHaveLength(8);
  });

  it("shows the error of a failed HA request, multi-line reason indented", async () => {
    const { code, stdout } = await run([`${FIXTURES}tasklog-hamigrate-negative-affinity-error.log`]);
    expect(code).toBe(0);
    expect(stdout).toContain(
      "Status: failed (TASK ERROR: command 'ha-manager migrate vm:20026 PVE-2-2' failed",
    );
    expect(stdout).toContain(
      "Error:  cannot migrate resource 'vm:20026' to node 'PVE-2-2':\n        - resource 'vm:20027'",
    );
  });

  it("reads `-` from stdin, also the API's {data:[{n,t}]} JSON", async () => {
    const lines = readFileSync(VM105, "utf8").trimEnd().split("\n");
    const api = JSON.stringify({ data: lines.map((t, i) => ({ n: i + 1, t })) });
    const { code, stdout } = await run(["-", "--json"], api);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ status: "completed", downtimeMs: 73, lineCount: 24 });
  });

  it("a missing file is a user error naming the file", async () => {
    const { code, stdout, stderr } = await run(["/nonexistent/task.log"]);
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toBe('error: Cannot read task log "/nonexistent/task.log": no such file.\n');
  });

  it("a directory is a user error too", async () => {
    const { code, stderr } = await run([FIXTURES]);
    expect(code).toBe(1);
    expect(stderr).toContain("it is a directory");
  });

  it("formats durations", () => {
    expect(formatDurationMs(73)).toBe("73 ms");
    expect(formatDurationMs(18_000)).toBe("18 s");
    expect(formatDurationMs(109_000)).toBe("1 min 49 s");
    expect(formatDurationMs(3_723_000)).toBe("1 h 2 min 3 s");
  });

  it("the installed command reads a log piped on stdin", async () => {
    const bin = fileURLToPath(new URL("../bin/pve-evacuate.js", import.meta.url));
    const child = spawn(process.execPath, [bin, "parse-task-log", "-", "--json"], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.stdin.end(readFileSync(`${FIXTURES}synthetic-pve8-live-problems.log`));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ status: "failed", vmid: 300, durationMs: 8000 });
  });
});
