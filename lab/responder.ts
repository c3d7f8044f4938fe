/**
 * A lab VM's network presence: a TCP listener (a completed handshake is a reply) and a UDP echo socket
 * on 127.0.0.1. During a migration's switchover the VM is paused, so the responder goes silent for
 * exactly that long: the TCP listener is closed (connects are refused), established connections stall,
 * datagrams are dropped. It comes back on the same ports — the VM keeps its address.
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, type Server, type Socket } from "node:net";

export interface SilenceWindow {
  /** Date.now() when the listener was closed. */
  startEpochMs: number;
  /** Date.now() when it accepted connections again. */
  endEpochMs: number;
}

export interface Responder {
  host: string;
  tcpPort: number;
  udpPort: number;
  /** Goes silent for `ms` (real time); resolves with the window actually observed. */
  silence(ms: number): Promise<SilenceWindow>;
  /** Per-datagram delay in ms (by arrival order, from 0); null drops the datagram. */
  setDelay(fn: ((seq: number) => number | null) | null): void;
  close(): Promise<void>;
}

export interface ResponderOptions {
  host?: string;
}

function listenTcp(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once("error", onError);
    server.listen({ host, port, exclusive: true }, () => {
      server.off("error", onError);
      const addr = server.address();
      resolve(typeof addr === "object" && addr ? addr.port : port);
    });
  });
}

export async function startResponder(options: ResponderOptions = {}): Promise<Responder> {
  const host = options.host ?? "127.0.0.1";
  const sockets = new Set<Socket>();
  let silent = false;
  let closed = false;
  let delayFn: ((seq: number) => number | null) | null = null;
  let seq = 0;
  const pending = new Set<NodeJS.Timeout>();

  const onConnection = (socket: Socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    // Echo whatever arrives, so a prober may also measure round trips on an open connection.
    socket.on("data", (chunk) => {
      if (!silent) socket.write(chunk);
    });
    if (silent) socket.pause();
  };

  let tcp = createServer(onConnection);
  const tcpPort = await listenTcp(tcp, host, 0);

  const udp: UdpSocket = createSocket("udp4");
  udp.on("message", (msg, rinfo) => {
    const n = seq++;
    if (silent || closed) return;
    const delay = delayFn ? delayFn(n) : 0;
    if (delay === null) return;
    const send = () => {
      if (!silent && !closed) udp.send(msg, rinfo.port, rinfo.address);
    };
    if (delay <= 0) send();
    else {
      const t = setTimeout(() => {
        pending.delete(t);
        send();
      }, delay);
      pending.add(t);
    }
  });
  udp.on("error", () => {});
  const udpPort = await new Promise<number>((resolve, reject) => {
    udp.once("error", reject);
    udp.bind({ address: host, port: 0, exclusive: true }, () => {
      udp.off("error", reject);
      resolve(udp.address().port);
    });
  });

  let silenceChain: Promise<unknown> = Promise.resolve();

  const doSilence = async (ms: number): Promise<SilenceWindow> => {
    if (closed) {
      const now = Date.now();
      return { startEpochMs: now, endEpochMs: now };
    }
    silent = true;
    for (const s of sockets) s.pause();
    // The listening socket is closed right away; close()'s callback would wait for the stalled
    // connections, which is not what we mean.
    tcp.close();
    const startEpochMs = Date.now();
    const startedAt = performance.now();
    await new Promise((r) => setTimeout(r, Math.max(0, ms - (performance.now() - startedAt))));
    if (!closed) {
      tcp = createServer(onConnection);
      await listenTcp(tcp, host, tcpPort);
    }
    silent = false;
    for (const s of sockets) s.resume();
    return { startEpochMs, endEpochMs: Date.now() };
  };

  return {
    host,
    tcpPort,
    udpPort,
    silence(ms: number) {
      const run = silenceChain.then(() => doSilence(ms));
      silenceChain = run.catch(() => {});
      return run;
    },
    setDelay(fn) {
      delayFn = fn;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const t of pending) clearTimeout(t);
      for (const s of sockets) s.destroy();
      if (tcp.listening) tcp.close();
      await new Promise<void>((resolve) => udp.close(() => resolve()));
    },
  };
}
