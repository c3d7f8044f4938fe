/**
 * The prober the migration worker calls: start a probe stream in a worker thread, mark window
 * boundaries from this thread, stop it and get the recording. Times in the recording are ms from its
 * origin on the monotonic clock, which all threads share, so marks and samples line up.
 */
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import { DEFAULT_MAX_PROBE_MS } from "./icmpProbe.ts";
import { monotonicMs } from "./probeScheduler.ts";
import type { WorkerCommand, WorkerConfig, WorkerReply } from "./probeWorker.ts";
import {
  DEFAULT_PROBE_BYTES,
  MIGRATION_END_MARK,
  MIGRATION_START_MARK,
  type MigrationWindows,
  type ProbeMethod,
  type ProbeSample,
  type SamplesFile,
} from "./samples.ts";
import { DEFAULT_TCP_TIMEOUT_MS } from "./tcpProbe.ts";

export interface StartProbeOptions {
  method: ProbeMethod;
  host: string;
  /** TCP or UDP port; ignored for ICMP. */
  port?: number;
  /** Default 10 ms. */
  intervalMs?: number;
  /** A reply later than this is a loss. Default: 900 ms for TCP (below the SYN retransmit), else 1000 ms. */
  timeoutMs?: number;
  /** The probe stops by itself after this long if stop() is never called. Default 2 h. */
  maxDurationMs?: number;
  /** ICMP: the ping program to run (default `ping` from PATH). */
  pingPath?: string;
}

export interface ProbeMark {
  name: string;
  atMs: number;
}

export interface ProbeRecording {
  method: ProbeMethod;
  host: string;
  port: number | null;
  /** The probes' real pace (for ICMP measured from ping's output), what the metrics use. */
  intervalMs: number;
  requestedIntervalMs: number;
  timeoutMs: number;
  probeBytes: number;
  /** Wall-clock time (Date.now() scale) of sentAtMs = 0, to line up with other clocks' events. */
  originEpochMs: number;
  stoppedAtMs: number;
  samples: ProbeSample[];
  marks: ProbeMark[];
  /** Slots the prober could not serve on time (its thread was held up); they are not in samples. */
  skippedSlots: number;
  maxLateMs: number;
  note?: string;
}

export interface RunningProbe {
  readonly originEpochMs: number;
  /** ms since the origin, now (the time base of samples and marks). */
  now(): number;
  /** Records a named instant, e.g. "migrationStart" / "migrationEnd". */
  mark(name: string): ProbeMark;
  stop(): Promise<ProbeRecording>;
}

export { MIGRATION_END_MARK, MIGRATION_START_MARK };

// The worker loads the TypeScript probe code through tsx itself, so it works whatever started this
// process (tsx CLI, bin/ with tsx's API, vitest).
const require = createRequire(import.meta.url);
/** tsx's ESM entry (its CommonJS twin cannot register hooks when imported). */
function tsxApiUrl(): string {
  try {
    return import.meta.resolve("tsx/esm/api");
  } catch {
    // Hosts without import.meta.resolve (some test transforms): the ESM file beside the CJS one.
    return pathToFileURL(require.resolve("tsx/esm/api")).href.replace(/\.cjs$/, ".mjs");
  }
}
const BOOTSTRAP = `
const { parentPort, workerData } = require("node:worker_threads");
(async () => {
  const tsx = await import(workerData.tsxUrl);
  tsx.register();
  const m = await import(workerData.entryUrl);
  await m.runProbeWorker(parentPort, workerData.config);
})().catch((e) => parentPort.postMessage({ type: "error", message: String((e && e.stack) || e) }));
`;

function ask<T>(worker: Worker, pick: (m: WorkerReply) => T | undefined, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (m: WorkerReply) => {
      if (m.type === "error") {
        cleanup();
        reject(
          m.code === ErrorCodes.QosProbeUnavailable
            ? new UserError(ErrorCodes.QosProbeUnavailable, m.message)
            : new Error(`probe worker failed ${what}: ${m.message}`),
        );
        return;
      }
      const v = pick(m);
      if (v !== undefined) {
        cleanup();
        resolve(v);
      }
    };
    const onError = (e: Error) => {
      cleanup();
      reject(new Error(`probe worker crashed ${what}: ${e.message}`));
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`probe worker exited (${code}) ${what}`));
    };
    const cleanup = () => {
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
    };
    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.on("exit", onExit);
  });
}

export async function startProbe(options: StartProbeOptions): Promise<RunningProbe> {
  const intervalMs = options.intervalMs ?? 10;
  const timeoutMs = options.timeoutMs ?? (options.method === "tcp" ? DEFAULT_TCP_TIMEOUT_MS : 1000);
  if (!(intervalMs > 0))
    throw new UserError(ErrorCodes.InvalidInput, `probe interval must be > 0 ms, got ${intervalMs}`);
  if (options.method !== "icmp" && !(options.port && options.port > 0 && options.port < 65536)) {
    throw new UserError(ErrorCodes.InvalidInput, `a ${options.method} probe needs a port (1-65535)`);
  }
  const originMonoMs = monotonicMs();
  const originEpochMs = performance.timeOrigin + performance.now();
  const config: WorkerConfig = {
    method: options.method,
    host: options.host,
    port: options.port ?? 0,
    intervalMs,
    timeoutMs,
    originMonoMs,
    originEpochMs,
    maxDurationMs: options.maxDurationMs ?? DEFAULT_MAX_PROBE_MS,
    ...(options.pingPath ? { pingPath: options.pingPath } : {}),
  };
  const worker = new Worker(BOOTSTRAP, {
    eval: true,
    workerData: {
      config,
      tsxUrl: tsxApiUrl(),
      entryUrl: new URL("./probeWorker.ts", import.meta.url).href,
    },
  });
  try {
    await ask(worker, (m) => (m.type === "ready" ? true : undefined), "while starting");
  } catch (e) {
    await worker.terminate();
    throw e;
  }
  const marks: ProbeMark[] = [];
  const now = () => monotonicMs() - originMonoMs;
  let stopping: Promise<ProbeRecording> | undefined;
  return {
    originEpochMs,
    now,
    mark(name) {
      const m = { name, atMs: now() };
      marks.push(m);
      return m;
    },
    stop() {
      stopping ??= (async () => {
        const stoppedAtMs = now();
        const done = ask(worker, (m) => (m.type === "done" ? m : undefined), "while stopping");
        worker.postMessage({ type: "stop", atMs: stoppedAtMs } satisfies WorkerCommand);
        try {
          const result = await done;
          return {
            method: options.method,
            host: options.host,
            port: options.method === "icmp" ? null : (options.port ?? null),
            intervalMs: result.effectiveIntervalMs ?? intervalMs,
            requestedIntervalMs: intervalMs,
            timeoutMs,
            probeBytes: DEFAULT_PROBE_BYTES[options.method],
            originEpochMs,
            stoppedAtMs,
            samples: result.samples,
            marks: [...marks],
            skippedSlots: result.skippedSlots,
            maxLateMs: result.maxLateMs,
            ...(result.note ? { note: result.note } : {}),
          };
        } finally {
          await worker.terminate();
        }
      })();
      return stopping;
    },
  };
}

/** Migration windows from the marks (the last mark of each name), if both are there. */
export function windowsFromMarks(
  recording: Pick<ProbeRecording, "marks">,
  startMark = MIGRATION_START_MARK,
  endMark = MIGRATION_END_MARK,
): MigrationWindows | undefined {
  const at = (n: string) => recording.marks.findLast((m) => m.name === n)?.atMs;
  const start = at(startMark);
  const end = at(endMark);
  return start !== undefined && end !== undefined && end >= start
    ? { migrationStartMs: start, migrationEndMs: end }
    : undefined;
}

/** The recording as a samples file (what the `qos` CLI reads and the report consumes). */
export function toSamplesFile(recording: ProbeRecording, migration?: SamplesFile["migration"]): SamplesFile {
  const windows = windowsFromMarks(recording);
  return {
    intervalMs: recording.intervalMs,
    samples: recording.samples,
    method: recording.method,
    probeBytes: recording.probeBytes,
    ...(windows ? { windows } : {}),
    ...(migration ? { migration } : {}),
  };
}
