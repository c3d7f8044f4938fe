import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import { explainPingFailure, pingArgs, startIcmp } from "./icmpProbe.ts";

// Stand-in `ping` programs: the parsing and the process handling are ours; iputils need not be here.
const dir = mkdtempSync(join(tmpdir(), "qos-ping-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fakePing(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

const talking = fakePing(
  "ping-ok",
  `trap 'echo "4 packets transmitted, 2 received, 50% packet loss, time 30ms"; exit 1' INT
echo "PING 10.0.0.1 (10.0.0.1) 56(84) bytes of data."
echo "[1000.001000] 64 bytes from 10.0.0.1: icmp_seq=1 ttl=64 time=1.000 ms"
echo "[1000.020000] no answer yet for icmp_seq=2"
echo "[1000.021000] 64 bytes from 10.0.0.1: icmp_seq=3 ttl=64 time=1.000 ms"
echo "[1000.035000] From 10.0.0.254 icmp_seq=4 Destination Host Unreachable"
while :; do sleep 0.02; done`,
);

describe("startIcmp", () => {
  it("runs ping, waits for late replies on stop, then returns the samples", async () => {
    const run = await startIcmp({
      host: "10.0.0.1",
      intervalMs: 10,
      timeoutMs: 20,
      originEpochMs: 1_000_000,
      pingPath: talking,
    });
    const result = await run.stop(1000);
    expect(result.samples).toEqual([
      { seq: 0, sentAtMs: 0, rttMs: 1 },
      { seq: 1, sentAtMs: 10, rttMs: null },
      { seq: 2, sentAtMs: 20, rttMs: 1 },
      { seq: 3, sentAtMs: 30, rttMs: null },
    ]);
    expect(result.effectiveIntervalMs).toBe(10);
    expect(result.note).toContain("1 ICMP error replies (last: Destination Host Unreachable)");
  });

  it("explains a refused interval", async () => {
    const path = fakePing(
      "ping-user",
      `echo "ping: cannot flood; minimal interval allowed for user is 2ms" >&2; exit 2`,
    );
    const err = await startIcmp({
      host: "127.0.0.1",
      intervalMs: 1,
      timeoutMs: 10,
      originEpochMs: 0,
      pingPath: path,
    })
      .then(() => undefined)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).code).toBe(ErrorCodes.QosProbeUnavailable);
    expect((err as Error).message).toContain("below 2 ms only for root");
  });

  it("says how to install ping when it is missing", async () => {
    const err = await startIcmp({
      host: "127.0.0.1",
      intervalMs: 10,
      timeoutMs: 10,
      originEpochMs: 0,
      pingPath: join(dir, "no-such-ping"),
    }).catch((e: unknown) => e);
    expect((err as Error).message).toContain("apt-get install iputils-ping");
  });
});

describe("explainPingFailure", () => {
  it("names the missing capability", () => {
    const msg = explainPingFailure(
      "ping: socktype: SOCK_RAW\nping: socket: Operation not permitted\nping: => missing cap_net_raw+p capability or setuid?",
      2,
      10,
    );
    expect(msg).toContain("CAP_NET_RAW");
  });
  it("passes anything else through", () => {
    expect(explainPingFailure("ping: weird\n", 2, 10)).toBe(
      "ICMP probe: ping exited (2) before sending: ping: weird.",
    );
  });
});

it("asks ping for timestamps, outstanding-reply notes, numeric output, the interval in seconds and a deadline", () => {
  expect(pingArgs("10.0.0.1", 10)).toEqual(["-D", "-O", "-n", "-i", "0.010", "-w", "7200", "10.0.0.1"]);
  expect(pingArgs("10.0.0.1", 20, 1500)).toContain("2");
});
