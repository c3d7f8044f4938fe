import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatUpid, parseUpid } from "./upid.ts";

describe("UPID", () => {
  it("parses a real qmtunnel UPID with a token user", () => {
    const p = parseUpid("UPID:node-2:00050531:0038D96F:6906CD7B:qmtunnel:6186:root@pam!migracion:");
    expect(p).toEqual({
      node: "node-2",
      pid: 0x50531,
      pstart: 0x38d96f,
      starttime: 0x6906cd7b,
      type: "qmtunnel",
      id: "6186",
      user: "root@pam!migracion",
    });
  });

  it("rejects text that is not a UPID with a message naming it", () => {
    expect(() => parseUpid("UPID:broken")).toThrow(/"UPID:broken" is not a Proxmox task id/);
  });

  it("round-trips", () => {
    const parts = fc.record({
      node: fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/),
      pid: fc.integer({ min: 0, max: 0xffffffff }),
      pstart: fc.integer({ min: 0, max: 0xffffffff }),
      starttime: fc.integer({ min: 0, max: 0xffffffff }),
      type: fc.constantFrom("qmigrate", "hamigrate", "vzmigrate"),
      id: fc.integer({ min: 100, max: 999999 }).map(String),
      user: fc.constantFrom("root@pam", "evac@pve!bot"),
    });
    fc.assert(
      fc.property(parts, (p) => {
        expect(parseUpid(formatUpid(p))).toEqual(p);
      }),
    );
  });
});
