import { describe, expect, it } from "vitest";
import { PingAccumulator, parsePingLine, unwrapSeq } from "./pingOutput.ts";

describe("parsePingLine", () => {
  it("reads replies, no-answer notes, ICMP errors, the header and the summary", () => {
    expect(parsePingLine("PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.")).toEqual({ kind: "header" });
    expect(
      parsePingLine("[1795973023.676384] 64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.275 ms"),
    ).toEqual({ kind: "reply", epochMs: 1795973023676.384, icmpSeq: 1, rttMs: 0.275, duplicate: false });
    expect(parsePingLine("[1.5] 64 bytes from 10.0.0.1: icmp_seq=7 ttl=64 time=123 ms (DUP!)")).toMatchObject(
      {
        icmpSeq: 7,
        rttMs: 123,
        duplicate: true,
      },
    );
    expect(parsePingLine("[1795973121.353266] no answer yet for icmp_seq=2")).toEqual({
      kind: "no-answer",
      epochMs: 1795973121353.266,
      icmpSeq: 2,
    });
    expect(parsePingLine("[2.0] From 10.1.1.1 icmp_seq=3 Destination Host Unreachable")).toEqual({
      kind: "icmp-error",
      epochMs: 2000,
      icmpSeq: 3,
      text: "Destination Host Unreachable",
    });
    expect(parsePingLine("50 packets transmitted, 50 received, 0% packet loss, time 801ms")).toEqual({
      kind: "transmitted",
      count: 50,
    });
    expect(parsePingLine("rtt min/avg/max/mdev = 0.040/0.043/0.046/0.003 ms")).toEqual({ kind: "other" });
  });
});

describe("unwrapSeq", () => {
  it("follows icmp_seq across its 16-bit wrap", () => {
    expect(unwrapSeq(5, 4)).toBe(5);
    expect(unwrapSeq(0, 65535)).toBe(65536);
    expect(unwrapSeq(2, 65536 + 1)).toBe(65538);
    expect(unwrapSeq(65535, 65536)).toBe(65535);
  });
});

describe("PingAccumulator", () => {
  const origin = 1_000_000;
  const line = (t: number, text: string) => `[${((origin + t) / 1000).toFixed(6)}] ${text}`;

  it("turns lines into samples: exact send times from replies, interpolated ones for losses", () => {
    const acc = new PingAccumulator(origin, 1000);
    acc.push("PING 10.0.0.1 (10.0.0.1) 56(84) bytes of data.");
    // ping's pace is 16 ms. icmp_seq=3 is answered late (74 ms); icmp_seq=4 never; 6 was sent last.
    acc.push(line(1, "64 bytes from 10.0.0.1: icmp_seq=1 ttl=64 time=1.000 ms"));
    acc.push(line(17, "64 bytes from 10.0.0.1: icmp_seq=2 ttl=64 time=1.000 ms"));
    acc.push(line(48, "no answer yet for icmp_seq=3"));
    acc.push(line(64, "no answer yet for icmp_seq=4"));
    acc.push(line(65, "64 bytes from 10.0.0.1: icmp_seq=5 ttl=64 time=1.000 ms"));
    acc.push(line(106, "64 bytes from 10.0.0.1: icmp_seq=3 ttl=64 time=74.000 ms"));
    acc.push("6 packets transmitted, 4 received, 33% packet loss, time 80ms");
    expect(acc.samples(10, 200)).toEqual([
      { seq: 0, sentAtMs: 0, rttMs: 1 },
      { seq: 1, sentAtMs: 16, rttMs: 1 },
      { seq: 2, sentAtMs: 32, rttMs: 74 },
      { seq: 3, sentAtMs: 48, rttMs: null },
      { seq: 4, sentAtMs: 64, rttMs: 1 },
      { seq: 5, sentAtMs: 80, rttMs: null },
    ]);
  });

  it("interpolates the send time of a loss between known sends", () => {
    const acc = new PingAccumulator(origin, 1000);
    acc.push(line(1, "64 bytes from 10.0.0.1: icmp_seq=1 ttl=64 time=1.000 ms"));
    acc.push(line(61, "64 bytes from 10.0.0.1: icmp_seq=4 ttl=64 time=1.000 ms"));
    expect(acc.samples(10).map((s) => s.sentAtMs)).toEqual([0, 20, 40, 60]);
  });

  it("measures ping's real pace and drops what was sent after the stop", () => {
    const acc = new PingAccumulator(origin, 1000);
    for (let i = 1; i <= 5; i++) {
      acc.push(line(i * 16 + 0.5, `64 bytes from 10.0.0.1: icmp_seq=${i} ttl=64 time=0.500 ms`));
    }
    expect(acc.effectiveIntervalMs(10)).toBe(16);
    expect(acc.samples(10, 40).map((s) => s.seq)).toEqual([0, 1]);
  });

  it("a reply later than the deadline counts as lost; duplicates are ignored", () => {
    const acc = new PingAccumulator(origin, 100);
    acc.push(line(500, "64 bytes from 10.0.0.1: icmp_seq=1 ttl=64 time=400 ms"));
    acc.push(line(511, "64 bytes from 10.0.0.1: icmp_seq=2 ttl=64 time=1.000 ms"));
    acc.push(line(512, "64 bytes from 10.0.0.1: icmp_seq=2 ttl=64 time=2.000 ms (DUP!)"));
    expect(acc.samples(10)).toEqual([
      { seq: 0, sentAtMs: 100, rttMs: null },
      { seq: 1, sentAtMs: 510, rttMs: 1 },
    ]);
  });
});
