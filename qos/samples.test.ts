import { describe, expect, it } from "vitest";
import { UserError } from "../lib/errors.ts";
import { parseSamplesFile } from "./samples.ts";

const ok = {
  intervalMs: 10,
  samples: [
    { seq: 0, sentAtMs: 0, rttMs: 0.5 },
    { seq: 1, sentAtMs: 10, rttMs: null },
  ],
};

function messageOf(data: unknown): string {
  try {
    parseSamplesFile(data, "samples.json");
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return (e as Error).message;
  }
  throw new Error("expected a validation error");
}

describe("parseSamplesFile", () => {
  it("accepts the documented shape, with or without windows", () => {
    expect(parseSamplesFile(ok).samples).toHaveLength(2);
    const withWindows = parseSamplesFile({ ...ok, windows: { migrationStartMs: 5, migrationEndMs: 8 } });
    expect(withWindows.windows).toEqual({ migrationStartMs: 5, migrationEndMs: 8 });
  });

  it("a saved recording's migration marks become the windows", () => {
    const rec = {
      ...ok,
      method: "tcp",
      host: "10.0.0.1",
      marks: [
        { name: "migrationStart", atMs: 3 },
        { name: "migrationEnd", atMs: 7 },
      ],
    };
    expect(parseSamplesFile(rec).windows).toEqual({ migrationStartMs: 3, migrationEndMs: 7 });
  });

  it("names the bad field with its index", () => {
    const msg = messageOf({ ...ok, samples: [{ seq: 0, sentAtMs: "soon", rttMs: 1 }] });
    expect(msg).toContain("Invalid samples.json");
    expect(msg).toContain("samples[0].sentAtMs");
  });

  it("rttMs must be present (null for a loss), not missing", () => {
    expect(messageOf({ intervalMs: 10, samples: [{ seq: 0, sentAtMs: 0 }] })).toContain("samples[0].rttMs");
  });

  it("intervalMs must be positive; a negative RTT is refused", () => {
    expect(messageOf({ ...ok, intervalMs: 0 })).toContain("intervalMs");
    expect(messageOf({ ...ok, samples: [{ seq: 0, sentAtMs: 0, rttMs: -1 }] })).toContain("samples[0].rttMs");
  });

  it("windows must not end before they start", () => {
    const msg = messageOf({ ...ok, windows: { migrationStartMs: 9, migrationEndMs: 1 } });
    expect(msg).toContain("windows.migrationEndMs");
  });

  it("duplicate seq numbers are named", () => {
    const msg = messageOf({
      intervalMs: 10,
      samples: [
        { seq: 3, sentAtMs: 0, rttMs: 1 },
        { seq: 3, sentAtMs: 10, rttMs: 1 },
      ],
    });
    expect(msg).toContain("samples[1].seq: duplicate seq 3 (also samples[0])");
  });

  it("a document that is not an object says what is expected", () => {
    expect(messageOf([1, 2])).toMatch(/\(top level\).*\n.*Expected \{ intervalMs/s);
  });
});
