/**
 * Graceful shutdown for long-running processes (worker, bot): the first SIGINT/SIGTERM runs the
 * handlers in order, each bounded by a timeout, then exits; a second signal exits at once. A worker
 * killed mid-migration is safe (the next worker adopts the task), so "at once" is always an option.
 */
import type { Logger } from "../lib/logger.ts";

export interface ShutdownHandler {
  /** For the log: "worker", "ops server", "redis". */
  name: string;
  run: () => Promise<unknown> | unknown;
  /** Overrides the default timeout for this handler. */
  timeoutMs?: number;
}

export interface SignalSource {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface ShutdownOptions {
  logger: Logger;
  /** Per handler, default 30 000 ms. */
  timeoutMs?: number;
  signals?: readonly NodeJS.Signals[];
  /** Exit when the handlers are done (0, or 1 if one failed or timed out). Default true. */
  exitWhenDone?: boolean;
  /** Injectable for tests. */
  source?: SignalSource;
  exit?: (code: number) => void;
}

export interface Shutdown {
  /** Starts the shutdown as a signal would (the second call exits at once); resolves with the exit code. */
  shutdown(reason?: string): Promise<number>;
  /** Resolves with the exit code when the handlers have run. */
  readonly done: Promise<number>;
  /** Removes the signal listeners (tests; a process that handles signals itself again). */
  dispose(): void;
}

const SIGNAL_NUMBERS: Partial<Record<string, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGTERM: 15 };

/** 128 + signal number, as shells report a process ended by a signal. */
export function signalExitCode(reason: string): number {
  const n = SIGNAL_NUMBERS[reason];
  return n === undefined ? 1 : 128 + n;
}

class HandlerTimeout extends Error {}

async function bounded(fn: () => Promise<unknown> | unknown, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(fn),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new HandlerTimeout(`did not finish within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function onShutdown(handlers: readonly ShutdownHandler[], options: ShutdownOptions): Shutdown {
  const { logger } = options;
  const source: SignalSource = options.source ?? process;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const signals = options.signals ?? ["SIGINT", "SIGTERM"];
  const defaultTimeout = options.timeoutMs ?? 30_000;
  let started = false;
  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => {
    resolveDone = resolve;
  });

  async function runHandlers(): Promise<number> {
    let code = 0;
    for (const h of handlers) {
      const t0 = performance.now();
      try {
        await bounded(h.run, h.timeoutMs ?? defaultTimeout);
        logger.info(
          { handler: h.name, ms: Math.round(performance.now() - t0) },
          `shutdown: ${h.name} stopped`,
        );
      } catch (err) {
        code = 1;
        if (err instanceof HandlerTimeout) {
          logger.warn({ handler: h.name }, `shutdown: ${h.name} ${err.message}; going on`);
        } else {
          logger.error({ err, handler: h.name }, `shutdown: ${h.name} failed; going on`);
        }
      }
    }
    return code;
  }

  function begin(reason: string): Promise<number> {
    if (started) {
      logger.warn({ reason }, "shutdown: second signal, exiting now");
      exit(signalExitCode(reason));
      return done;
    }
    started = true;
    logger.info({ reason }, "shutdown: stopping (signal again to exit at once)");
    runHandlers().then((code) => {
      logger.info({ code }, "shutdown: done");
      resolveDone(code);
      if (options.exitWhenDone ?? true) exit(code);
    });
    return done;
  }

  const listener = (signal: NodeJS.Signals) => {
    begin(signal);
  };
  for (const s of signals) source.on(s, listener);

  return {
    shutdown: (reason = "shutdown requested") => begin(reason),
    done,
    dispose() {
      for (const s of signals) source.off(s, listener);
    },
  };
}
