/**
 * ICMP echo probe through iputils `ping -D -O -n -i <interval>`. ping schedules and timestamps its
 * own probes in its own process (it needs CAP_NET_RAW for its raw socket: root, or the file capability
 * Debian's package sets; Docker grants NET_RAW by default). iputils refuses intervals below 2 ms for
 * non-root users (older versions: below 200 ms); the error says so. iputils also runs slower than
 * asked at short intervals (measured here: -i 0.01 → ~16 ms), so the recording carries the measured
 * pace as its interval.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import { PingAccumulator } from "./pingOutput.ts";
import type { ProbeSample } from "./samples.ts";

export interface IcmpOptions {
  host: string;
  intervalMs: number;
  timeoutMs: number;
  /** Wall-clock time (ms, sub-ms precision) of the recording's origin. */
  originEpochMs: number;
  /** The program to run; default `ping`. */
  pingPath?: string;
  /**
   * ping exits by itself after this long (-w): a ping left behind by a crashed bot would otherwise
   * go on probing at 100/s for ever. Default 2 h.
   */
  maxDurationMs?: number;
}

export const DEFAULT_MAX_PROBE_MS = 2 * 3600_000;

export interface IcmpRun {
  /** Stops sending after the current probe; waits for replies up to the timeout, then returns samples. */
  stop(stopAtMs: number): Promise<{ samples: ProbeSample[]; effectiveIntervalMs: number; note?: string }>;
}

/** Turns ping's complaint into something an operator can act on. */
export function explainPingFailure(stderr: string, exitCode: number | null, intervalMs: number): string {
  const minimal = /minimal interval allowed for user is (\d+(?:\.\d+)?)\s*ms/.exec(stderr);
  if (minimal) {
    return `ICMP probe: iputils ping allows intervals below ${minimal[1]} ms only for root; the interval is ${intervalMs} ms. Run the worker as root or raise QOS_INTERVAL_MS, or use the TCP probe (QOS_METHOD=tcp).`;
  }
  if (/cannot flood/.test(stderr)) {
    return `ICMP probe: ping refused a ${intervalMs} ms interval for this user (${stderr.trim()}). Run as root or use the TCP probe.`;
  }
  if (/Operation not permitted|cap_net_raw|Permission denied/i.test(stderr)) {
    return "ICMP probe: ping lacks CAP_NET_RAW (raw sockets). Give the container NET_RAW (Docker has it by default; check --cap-drop), run as root, or use the TCP probe (QOS_METHOD=tcp).";
  }
  if (/unknown host|Name or service not known|Temporary failure in name resolution/i.test(stderr)) {
    return `ICMP probe: ping cannot resolve the target (${stderr.trim()}).`;
  }
  return `ICMP probe: ping exited (${exitCode ?? "signal"}) before sending: ${stderr.trim() || "no message"}.`;
}

export function pingArgs(host: string, intervalMs: number, maxDurationMs = DEFAULT_MAX_PROBE_MS): string[] {
  const deadlineS = String(Math.max(1, Math.ceil(maxDurationMs / 1000)));
  return ["-D", "-O", "-n", "-i", (intervalMs / 1000).toFixed(3), "-w", deadlineS, host];
}

/** Starts ping; resolves once it has opened its socket and begun, rejects with the reason otherwise. */
export function startIcmp(options: IcmpOptions): Promise<IcmpRun> {
  const acc = new PingAccumulator(options.originEpochMs, options.timeoutMs);
  let child: ChildProcess;
  try {
    child = spawn(
      options.pingPath ?? "ping",
      pingArgs(options.host, options.intervalMs, options.maxDurationMs),
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
  } catch (e) {
    return Promise.reject(e);
  }
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  return new Promise<IcmpRun>((resolve, reject) => {
    let started = false;
    child.once("error", (e: NodeJS.ErrnoException) => {
      if (started) return;
      reject(
        new UserError(
          ErrorCodes.QosProbeUnavailable,
          e.code === "ENOENT"
            ? "ICMP probe: the `ping` program (iputils) is not installed. Debian/Ubuntu: apt-get install iputils-ping; or use the TCP probe (QOS_METHOD=tcp)."
            : `ICMP probe: cannot start ping: ${e.message}`,
        ),
      );
    });
    lines.on("line", (line) => {
      const parsed = acc.push(line);
      if (parsed.kind === "header" && !started) {
        started = true;
        resolve({ stop });
      }
    });
    void exited.then((code) => {
      if (!started) {
        reject(
          new UserError(ErrorCodes.QosProbeUnavailable, explainPingFailure(stderr, code, options.intervalMs)),
        );
      }
    });
  });

  async function stop(stopAtMs: number) {
    if (child.exitCode === null && child.signalCode === null) {
      // Late replies to the last probes still count: give them the probe deadline.
      await new Promise((r) => setTimeout(r, options.timeoutMs));
      child.kill("SIGINT");
    }
    await exited;
    const samples = acc.samples(options.intervalMs, stopAtMs);
    const effectiveIntervalMs = acc.effectiveIntervalMs(options.intervalMs);
    const notes: string[] = [];
    if (Math.abs(effectiveIntervalMs - options.intervalMs) > options.intervalMs * 0.1) {
      notes.push(
        `ping sent every ${effectiveIntervalMs.toFixed(2)} ms instead of ${options.intervalMs} ms; metrics use the measured pace`,
      );
    }
    if (acc.icmpErrors > 0) {
      notes.push(`${acc.icmpErrors} ICMP error replies (last: ${acc.lastIcmpError}); counted as lost`);
    }
    return { samples, effectiveIntervalMs, ...(notes.length > 0 ? { note: notes.join("; ") } : {}) };
  }
}
