/**
 * The probe loop, run inside a worker thread (see prober.ts) so that a busy main event loop (Discord,
 * Redis, API polling) cannot delay probes and fake an outage. Protocol with the parent:
 *   worker → parent: { type: "ready" } | { type: "error", message, code? } | { type: "done", ... }
 *   parent → worker: { type: "stop", atMs }
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { MessagePort } from "node:worker_threads";
import { startIcmp } from "./icmpProbe.ts";
import type { ProbeEngine } from "./probeEngine.ts";
import { monotonicMs, runSchedule, type ScheduleResult } from "./probeScheduler.ts";
import type { ProbeMethod, ProbeSample } from "./samples.ts";
import { tcpEngine } from "./tcpProbe.ts";
import { udpEngine } from "./udpProbe.ts";

export interface WorkerConfig {
  method: ProbeMethod;
  host: string;
  port: number;
  intervalMs: number;
  timeoutMs: number;
  /** monotonicMs() at the recording's origin (sentAtMs = 0); the same clock in every thread. */
  originMonoMs: number;
  originEpochMs: number;
  /** The worker stops by itself after this long, in case nobody calls stop(). */
  maxDurationMs: number;
  pingPath?: string;
}

export type WorkerReply =
  | { type: "ready" }
  | { type: "error"; message: string; code?: string }
  | {
      type: "done";
      samples: ProbeSample[];
      skippedSlots: number;
      maxLateMs: number;
      /** The pace the probes really had when the prober does not set it (ping). */
      effectiveIntervalMs?: number;
      note?: string;
    };

export type WorkerCommand = { type: "stop"; atMs: number };

function errorReply(e: unknown): WorkerReply {
  const code = (e as { code?: unknown }).code;
  return {
    type: "error",
    message: e instanceof Error ? e.message : String(e),
    ...(typeof code === "string" ? { code } : {}),
  };
}

export async function runProbeWorker(port: MessagePort, config: WorkerConfig): Promise<void> {
  const post = (m: WorkerReply) => port.postMessage(m);
  let autoStopped = false;
  const stopRequested = new Promise<number>((resolve) => {
    const timer = setTimeout(() => {
      autoStopped = true;
      resolve(monotonicMs() - config.originMonoMs);
    }, config.maxDurationMs);
    timer.unref();
    port.on("message", (m: WorkerCommand) => {
      if (m.type === "stop") {
        clearTimeout(timer);
        resolve(m.atMs);
      }
    });
  });
  const autoNote = () =>
    autoStopped ? `stopped by itself after the maximum duration (${config.maxDurationMs} ms)` : undefined;
  const withNotes = (...notes: (string | undefined)[]) => {
    const text = notes.filter((n): n is string => n !== undefined).join("; ");
    return text ? { note: text } : {};
  };
  try {
    if (config.method === "icmp") {
      const run = await startIcmp(config);
      post({ type: "ready" });
      const { note, ...result } = await run.stop(await stopRequested);
      post({ type: "done", skippedSlots: 0, maxLateMs: 0, ...result, ...withNotes(note, autoNote()) });
      return;
    }
    const host = isIP(config.host) ? config.host : (await lookup(config.host)).address;
    const now = () => monotonicMs() - config.originMonoMs;
    const samples: ProbeSample[] = [];
    const engineOptions = {
      host,
      port: config.port,
      timeoutMs: config.timeoutMs,
      now,
      onResult: (s: ProbeSample) => samples.push(s),
    };
    const engine: ProbeEngine =
      config.method === "tcp" ? tcpEngine(engineOptions) : await udpEngine(engineOptions);
    const abort = new AbortController();
    void stopRequested.then(() => abort.abort());
    post({ type: "ready" });
    const schedule: ScheduleResult = await runSchedule({
      intervalMs: config.intervalMs,
      signal: abort.signal,
      onSlot: (slot) => engine.send(slot),
    });
    await engine.drain();
    await engine.close();
    samples.sort((a, b) => a.seq - b.seq);
    post({
      type: "done",
      samples,
      skippedSlots: schedule.skipped,
      maxLateMs: schedule.maxLateMs,
      ...withNotes(autoNote()),
    });
  } catch (e) {
    post(errorReply(e));
  }
}
