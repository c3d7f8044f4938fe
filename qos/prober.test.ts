import dgram from "node:dgram";
import net from "node:net";
import { describe, expect, it } from "vitest";
import { UserError } from "../lib/errors.ts";
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

  it("refuses a TCP probe without a port", async () => {
    await expect(startProbe({ method: "tcp", host: "127.0.0.1" })).rejects.toBeInstanceOf(UserError);
  });
});
