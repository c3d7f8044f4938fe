/**
 * TCP connect probe: each probe opens a new connection; a completed handshake is the reply, a refusal
 * or no handshake before the deadline is a loss. Needs no privileges. The connection is closed with a
 * reset so the prober leaves no TIME_WAIT sockets behind (100 connects/s would otherwise pile up
 * thousands of them and could exhaust ephemeral ports during a long migration).
 */
import net from "node:net";
import { type EngineOptions, Outstanding, type ProbeEngine } from "./probeEngine.ts";

/** Below Linux's 1 s initial SYN retransmission timeout, so a reply always answers the first SYN. */
export const DEFAULT_TCP_TIMEOUT_MS = 900;

export function tcpEngine(options: EngineOptions): ProbeEngine {
  const outstanding = new Outstanding();
  const open = new Set<net.Socket>();
  return {
    send(seq) {
      outstanding.add();
      const sentAtMs = options.now();
      const socket = net.connect({ host: options.host, port: options.port, noDelay: true });
      open.add(socket);
      let settled = false;
      const finish = (rttMs: number | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        open.delete(socket);
        if (rttMs !== null) socket.resetAndDestroy();
        else socket.destroy();
        options.onResult({ seq, sentAtMs, rttMs });
        outstanding.done();
      };
      const timer = setTimeout(() => finish(null), options.timeoutMs);
      socket.once("connect", () => finish(options.now() - sentAtMs));
      socket.once("error", () => finish(null));
      // A reset after connect may still raise an error event; it is not a loss any more.
      socket.on("error", () => {});
    },
    drain: () => outstanding.drain(),
    async close() {
      for (const s of open) s.destroy();
    },
  };
}
