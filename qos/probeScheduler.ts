/**
 * Fires probe slots on an absolute grid: slot k is due at start + k × interval. Each wait is computed
 * from the grid, not from the previous wake-up, so timer lateness never accumulates (setInterval and
 * "sleep one interval" loops drift). If the thread was held up for a whole interval or more, the slots
 * that are already past are skipped (counted, not sent in a burst): a burst would put probes at the
 * wrong times, and a stalled prober should show up as skipped slots, not as a fake outage pattern.
 */
export interface ScheduleClock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Resolves at or after atMs, or early when the signal aborts. */
  sleepUntil(atMs: number, signal: AbortSignal): Promise<void>;
}

/** process.hrtime is CLOCK_MONOTONIC: the same clock in every thread and process of the machine. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export const monotonicClock: ScheduleClock = {
  now: monotonicMs,
  sleepUntil(atMs, signal) {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      // Rounded up: Node timers have 1 ms resolution and may otherwise wake a fraction early.
      const timer = setTimeout(done, Math.max(0, Math.ceil(atMs - monotonicMs())));
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    });
  },
};

export interface ScheduleOptions {
  intervalMs: number;
  /** Called for each slot that fires, with its grid time and the time it actually fired. */
  onSlot: (slot: number, dueAtMs: number, firedAtMs: number) => void;
  signal: AbortSignal;
  clock?: ScheduleClock;
  /** Grid origin; default: now. */
  startAtMs?: number;
}

export interface ScheduleResult {
  fired: number;
  skipped: number;
  /** Worst lateness of a fired slot behind its grid time. */
  maxLateMs: number;
}

export async function runSchedule(options: ScheduleOptions): Promise<ScheduleResult> {
  const clock = options.clock ?? monotonicClock;
  const { intervalMs, signal } = options;
  if (!(intervalMs > 0)) throw new RangeError(`intervalMs must be > 0, got ${intervalMs}`);
  const start = options.startAtMs ?? clock.now();
  const result: ScheduleResult = { fired: 0, skipped: 0, maxLateMs: 0 };
  let slot = 0;
  while (!signal.aborted) {
    const dueAt = start + slot * intervalMs;
    // Always yield once (so replies get handled even when running behind); a timer may also wake a
    // little early (its idea of "now" is cached per loop turn): then wait again.
    let now: number;
    do {
      await clock.sleepUntil(dueAt, signal);
      now = clock.now();
    } while (now < dueAt && !signal.aborted);
    if (signal.aborted) break;
    const behind = Math.floor((now - dueAt) / intervalMs);
    if (behind > 0) {
      result.skipped += behind;
      slot += behind;
    }
    const due = start + slot * intervalMs;
    result.maxLateMs = Math.max(result.maxLateMs, now - due);
    options.onSlot(slot, due, now);
    result.fired++;
    slot++;
  }
  return result;
}
