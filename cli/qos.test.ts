import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type CliIo, runCli } from "./program.ts";
import { register } from "./qos.ts";

const dir = mkdtempSync(join(tmpdir(), "qos-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

async function run(args: string[]) {
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
  const code = await runCli(["qos", ...args], [register], io);
  return { code, stdout, stderr };
}

const samples = {
  intervalMs: 10,
  samples: [2, 2, 2, null, null, 3, 3, 2].map((rttMs, seq) => ({ seq, sentAtMs: seq * 10, rttMs })),
  windows: { migrationStartMs: 20, migrationEndMs: 60 },
};

describe("pve-evacuate qos", () => {
  it("--json prints metrics per window, the observed downtime and grades", async () => {
    const { code, stdout, stderr } = await run([file("s.json", samples), "--json"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(Object.keys(report.windows)).toEqual(["baseline", "migration", "after"]);
    expect(report.windows.migration).toMatchObject({ sent: 4, received: 2, lost: 2, lossPct: 50 });
    expect(report.observedDowntimeMs).toBe(21);
    expect(report.grades.downtime).toMatchObject({ grade: "veryGood", label: "very good" });
    expect(report.grades.loss).toMatchObject({ grade: "bad", label: "bad" });
  });

  it("prints a table and graded figures in Indonesian with --labels id", async () => {
    const { code, stdout } = await run([file("s.json", samples), "--labels", "id"]);
    expect(code).toBe(0);
    expect(stdout).toContain("selama migrasi");
    expect(stdout).toContain("client-observed downtime: 21.0 ms");
    expect(stdout).toMatch(/downtime\s+21\.0 ms\s+sangat bagus/);
    expect(stdout).toMatch(/packet loss\s+50\.0 %\s+jelek/);
  });

  it("--chart writes a PNG", async () => {
    const out = join(dir, "chart.png");
    const { code, stdout } = await run([file("s.json", samples), "--chart", out]);
    expect(code).toBe(0);
    expect(stdout).toContain(`chart: ${out}`);
    expect(readFileSync(out).subarray(1, 4).toString()).toBe("PNG");
  });

  it("a bad samples file: exit 1 and the field named", async () => {
    const bad = file("bad.json", { intervalMs: 10, samples: [{ seq: 0, sentAtMs: 0, rttMs: "1" }] });
    const { code, stderr, stdout } = await run([bad]);
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toContain("samples[0].rttMs");
  });

  it("unreadable or non-JSON input is a clear error", async () => {
    expect((await run([join(dir, "missing.json")])).stderr).toContain("no such file");
    expect((await run([file("text.json", "not json")])).stderr).toContain("is not valid JSON");
  });

  it("--grading overrides a table; a bad table is named", async () => {
    const strict = file("g.json", {
      downtime: {
        better: "lower",
        limits: [
          { value: 5, inclusive: false },
          { value: 10, inclusive: false },
          { value: 20, inclusive: false },
        ],
      },
    });
    const { stdout } = await run([file("s.json", samples), "--json", "--grading", strict]);
    expect(JSON.parse(stdout).grades.downtime.grade).toBe("bad");
    const bad = await run([
      file("s.json", samples),
      "--grading",
      file("g2.json", { downtime: { better: "up" } }),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("downtime.better");
  });
});
