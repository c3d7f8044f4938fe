import { createSocket } from "node:dgram";
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type Responder, startResponder } from "./responder.ts";

function tcpConnects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Sends `count` datagrams and collects the echoes that come back within `waitMs`. */
async function udpEchoes(port: number, count: number, waitMs = 300): Promise<string[]> {
  const sock = createSocket("udp4");
  const got: string[] = [];
  sock.on("message", (m) => got.push(m.toString()));
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  for (let i = 0; i < count; i++) sock.send(`p${i}`, port, "127.0.0.1");
  await new Promise((r) => setTimeout(r, waitMs));
  sock.close();
  return got;
}

describe("responder", () => {
  let r: Responder | undefined;
  afterEach(async () => {
    await r?.close();
    r = undefined;
  });

  it("accepts TCP connects and echoes UDP datagrams", async () => {
    r = await startResponder();
    expect(await tcpConnects(r.tcpPort)).toBe(true);
    expect((await udpEchoes(r.udpPort, 3)).sort()).toEqual(["p0", "p1", "p2"]);
  });

  it("goes silent for the given time, then answers again on the same ports", async () => {
    r = await startResponder();
    const port = r.tcpPort;
    const silence = r.silence(800);
    await new Promise((res) => setTimeout(res, 50));
    expect(await tcpConnects(port)).toBe(false);
    expect(await udpEchoes(r.udpPort, 2, 100)).toEqual([]);
    const w = await silence;
    expect(w.endEpochMs - w.startEpochMs).toBeGreaterThanOrEqual(790);
    expect(r.tcpPort).toBe(port);
    expect(await tcpConnects(port)).toBe(true);
    expect(await udpEchoes(r.udpPort, 1)).toEqual(["p0"]);
  });

  it("applies a per-datagram delay function; null drops the datagram", async () => {
    r = await startResponder();
    r.setDelay((seq) => (seq % 2 === 1 ? null : 0));
    expect((await udpEchoes(r.udpPort, 4)).sort()).toEqual(["p0", "p2"]);
  });
});
