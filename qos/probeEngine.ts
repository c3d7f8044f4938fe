/** What a scheduled probe (TCP connect, UDP echo) looks like to the worker that drives it. */
import type { ProbeSample } from "./samples.ts";

export interface ProbeEngine {
  /** Sends probe `seq` now; reports it exactly once through the engine's onResult. */
  send(seq: number): void;
  /** Resolves when every probe sent so far has a reply or passed its deadline. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

export interface EngineOptions {
  host: string;
  port: number;
  timeoutMs: number;
  /** Monotonic ms on the recording's time base. */
  now: () => number;
  onResult: (sample: ProbeSample) => void;
}

/** Tracks outstanding probes so drain() can wait for the last deadline. */
export class Outstanding {
  private count = 0;
  private waiters: (() => void)[] = [];
  add(): void {
    this.count++;
  }
  done(): void {
    this.count--;
    if (this.count === 0) for (const w of this.waiters.splice(0)) w();
  }
  drain(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((r) => this.waiters.push(r));
  }
}
