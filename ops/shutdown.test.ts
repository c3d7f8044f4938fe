import { EventEmitter } from "node:events";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../lib/logger.ts";
import { onShutdown, type SignalSource, signalExitCode } from "./shutdown.ts";

function harness() {
  const emitter = new EventEmitter();
  const exits: number[] = [];
  const logs: { msg: string; level: number }[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(JSON.parse(String(chunk)) as { msg: string; level: number });
      cb();
    },
  });
  return {
    source: emitter as unknown as SignalSource,
    signal: (s: NodeJS.Signals) => emitter.emit(s, s),
    listeners: () => emitter.listenerCount("SIGINT") + emitter.listenerCount("SIGTERM"),
    exits,
    logs,
    logger: createLogger({ level: "info" }, sink),
    exit: (code: number) => {
      exits.push(code);
    },
  };
}

describe("onShutdown", () => {
  it("runs the handlers in order on the first signal, then exits 0", async () => {
    const h = harness();
    const order: string[] = [];
    const s = onShutdown(
      [
        { name: "worker", run: async () => order.push("worker") },
        { name: "redis", run: () => order.push("redis") },
      ],
      { logger: h.logger, source: h.source, exit: h.exit },
    );
    h.signal("SIGTERM");
    expect(await s.done).toBe(0);
    expect(order).toEqual(["worker", "redis"]);
    expect(h.exits).toEqual([0]);
    expect(h.logs.map((l) => l.msg)).toContain("shutdown: worker stopped");
    s.dispose();
    expect(h.listeners()).toBe(0);
  });

  it("goes on past a handler that fails or hangs, and exits 1", async () => {
    const h = harness();
    const ran: string[] = [];
    const s = onShutdown(
      [
        { name: "hangs", run: () => new Promise(() => {}), timeoutMs: 20 },
        {
          name: "throws",
          run: () => {
            throw new Error("boom");
          },
        },
        { name: "last", run: () => ran.push("last") },
      ],
      { logger: h.logger, source: h.source, exit: h.exit },
    );
    h.signal("SIGINT");
    expect(await s.done).toBe(1);
    expect(ran).toEqual(["last"]);
    expect(h.logs.some((l) => l.msg.includes("hangs did not finish within 20 ms"))).toBe(true);
    s.dispose();
  });

  it("exits at once on the second signal", async () => {
    const h = harness();
    let release: () => void = () => {};
    const s = onShutdown([{ name: "slow", run: () => new Promise<void>((r) => (release = r)) }], {
      logger: h.logger,
      source: h.source,
      exit: h.exit,
    });
    h.signal("SIGTERM");
    h.signal("SIGINT");
    expect(h.exits).toEqual([130]);
    // The handler starts on the next tick; let it, then let it finish.
    await new Promise((r) => setImmediate(r));
    release();
    expect(await s.done).toBe(0);
    s.dispose();
  });

  it("can leave exiting to the caller", async () => {
    const h = harness();
    const s = onShutdown([], { logger: h.logger, source: h.source, exit: h.exit, exitWhenDone: false });
    expect(await s.shutdown("test")).toBe(0);
    expect(h.exits).toEqual([]);
    s.dispose();
  });

  it("reports signals as shells do", () => {
    expect(signalExitCode("SIGINT")).toBe(130);
    expect(signalExitCode("SIGTERM")).toBe(143);
    expect(signalExitCode("whatever")).toBe(1);
  });
});
