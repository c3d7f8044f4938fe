import dgram from "node:dgram";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import { startProbe, toSamplesFile, windowsFromMarks } from "./prober.ts";
import { qosReport } from "./report.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function listen(port = 0): Promise<net.Server> {
  const server = net.createServer((s) => s.on("error", () => {}));
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}
const close = (server: net.Server) => new Promise<void>((r) => server.close(() => r()));

describe("startProbe (worker thread)", () => {
  it("TCP: a listener closed for ~300 ms shows as one outage of about that length", async () => {
    let server = await listen();
    const port = (server.address() as net.AddressInfo).port;
    const probe = await startProbe({ method: "tcp", host: "127.0.0.1", port, intervalMs: 10 });
    try {
      await sleep(200);
      probe.mark("migrationStart");
      // Let probes sent before the mark finish their handshake, so none of them meets the closed port.
      await sleep(50);
      await close(server);
      const down = probe.now();
      await sleep(300);
      server = await listen(port);
      const trueOutageMs = probe.now() - down;
      await sleep(200);
      probe.mark("migrationEnd");
      await sleep(100);
      const recording = await probe.stop();
      expect(recording.method).toBe("tcp");
      expect(recording.samples.length).toBeGreaterThan(30);
      const seqs = recording.samples.map((s) => s.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      const report = qosReport(toSamplesFile(recording));
      // Generous bounds: this checks the plumbing; accuracy figures are in `npm run bench -- qos`.
      expect(report.observedDowntimeMs).toBeGreaterThan(trueOutageMs - 100);
      expect(report.observedDowntimeMs).toBeLessThan(trueOutageMs + 250);
      expect(report.windows.baseline?.lost).toBe(0);
      expect(report.windows.migration?.lost).toBeGreaterThan(0);
      expect(windowsFromMarks(recording)).toEqual({
        migrationStartMs: recording.marks[0]?.atMs,
        migrationEndMs: recording.marks[1]?.atMs,
      });
    } finally {
      await probe.stop();
      await close(server);
    }
  });

  it("UDP: loss is counted exactly for a known drop pattern", async () => {
    const echo = dgram.createSocket("udp4");
    let received = 0;
    let dropped = 0;
    echo.on("message", (msg, from) => {
      // Our probe's payload carries the seq at offset 8; drop every 4th probe.
      if (msg.readUInt32BE(8) % 4 === 0) {
        dropped++;
        return;
      }
      received++;
      echo.send(msg, from.port, from.address);
    });
    await new Promise<void>((r) => echo.bind(0, "127.0.0.1", () => r()));
    const probe = await startProbe({
      method: "udp",
      host: "127.0.0.1",
      port: echo.address().port,
      intervalMs: 5,
      timeoutMs: 500,
    });
    await sleep(300);
    const recording = await probe.stop();
    echo.close();
    const all = qosReport(toSamplesFile(recording)).windows.all;
    expect(all?.sent).toBe(received + dropped);
    expect(all?.lost).toBe(dropped);
    expect(recording.samples.filter((s) => s.rttMs === null).every((s) => s.seq % 4 === 0)).toBe(true);
  });

  it("stops by itself after maxDurationMs when nobody calls stop()", async () => {
    const server = await listen();
    const probe = await startProbe({
      method: "tcp",
      host: "127.0.0.1",
      port: (server.address() as net.AddressInfo).port,
      maxDurationMs: 100,
    });
    await sleep(400);
    const rec = await probe.stop();
    await close(server);
    expect(rec.note).toContain("maximum duration");
    expect(rec.samples.length).toBeGreaterThan(0);
    expect(Math.max(...rec.samples.map((s) => s.sentAtMs))).toBeLessThan(rec.stoppedAtMs);
  });

  it("ICMP: ping's output comes back as samples; ping's refusal as a UserError with the reason", async () => {
    const dir = mkdtempSync(join(tmpdir(), "qos-prober-ping-"));
    try {
      const script = (name: string, body: string) => {
        const path = join(dir, name);
        writeFileSync(path, `#!/bin/sh\n${body}\n`);
        chmodSync(path, 0o755);
        return path;
      };
      const ok = script(
        "ping",
        `trap 'echo "2 packets transmitted, 1 received"; exit 1' INT
echo "PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data."
echo "[$(date +%s.%N | cut -c1-17)] 64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.050 ms"
while :; do sleep 0.02; done`,
      );
      const probe = await startProbe({ method: "icmp", host: "127.0.0.1", pingPath: ok, timeoutMs: 20 });
      await sleep(400);
      const rec = await probe.stop();
      expect(rec.port).toBeNull();
      expect(rec.samples.map((s) => [s.seq, s.rttMs])).toEqual([
        [0, 0.05],
        [1, null],
      ]);

      const refused = script("ping-nocap", `echo "ping: socket: Operation not permitted" >&2; exit 2`);
      const err = await startProbe({ method: "icmp", host: "127.0.0.1", pingPath: refused }).catch((e) => e);
      expect(err).toBeInstanceOf(UserError);
      expect((err as UserError).code).toBe(ErrorCodes.QosProbeUnavailable);
      expect((err as Error).message).toContain("CAP_NET_RAW");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a TCP probe without a port", async () => {
    await expect(startProbe({ method: "tcp", host: "127.0.0.1" })).rejects.toBeInstanceOf(UserError);
  });
});
