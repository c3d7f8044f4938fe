/**
 * UDP echo probe: one datagram per probe to an echo service; the echoed datagram is the reply.
 * The payload carries a per-session token and the seq, so stray or stale datagrams are ignored.
 * The socket is not connected: ICMP "port unreachable" then surfaces as silence (a loss), not as an
 * error that would stop the stream.
 */
import { randomInt } from "node:crypto";
import dgram from "node:dgram";
import { isIPv6 } from "node:net";
import { type EngineOptions, Outstanding, type ProbeEngine } from "./probeEngine.ts";

export const UDP_PAYLOAD_BYTES = 16;
const MAGIC = 0x51_6f_53_21; // "QoS!"

export interface Pending {
  sentAtMs: number;
  timer: NodeJS.Timeout;
}

export async function udpEngine(options: EngineOptions): Promise<ProbeEngine> {
  const socket = dgram.createSocket(isIPv6(options.host) ? "udp6" : "udp4");
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, () => {
      socket.off("error", reject);
      resolve();
    });
  });
  socket.on("error", () => {});
  const token = randomInt(0, 2 ** 32);
  const outstanding = new Outstanding();
  const pending = new Map<number, Pending>();
  const settle = (seq: number, rttMs: number | null) => {
    const p = pending.get(seq);
    if (!p) return;
    pending.delete(seq);
    clearTimeout(p.timer);
    options.onResult({ seq, sentAtMs: p.sentAtMs, rttMs });
    outstanding.done();
  };
  socket.on("message", (msg) => {
    const at = options.now();
    if (msg.length < 12 || msg.readUInt32BE(0) !== MAGIC || msg.readUInt32BE(4) !== token) return;
    const seq = msg.readUInt32BE(8);
    const p = pending.get(seq);
    if (p) settle(seq, at - p.sentAtMs);
  });
  return {
    send(seq) {
      const buf = Buffer.alloc(UDP_PAYLOAD_BYTES);
      buf.writeUInt32BE(MAGIC, 0);
      buf.writeUInt32BE(token, 4);
      buf.writeUInt32BE(seq >>> 0, 8);
      outstanding.add();
      const sentAtMs = options.now();
      pending.set(seq, { sentAtMs, timer: setTimeout(() => settle(seq, null), options.timeoutMs) });
      socket.send(buf, options.port, options.host);
    },
    drain: () => outstanding.drain(),
    close: () =>
      new Promise<void>((resolve) => {
        for (const seq of [...pending.keys()]) settle(seq, null);
        socket.close(() => resolve());
      }),
  };
}
