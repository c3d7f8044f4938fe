import { describe, expect, it } from "vitest";
import { runSchedule, type ScheduleClock } from "./probeScheduler.ts";

/** A clock whose every sleep overshoots by `overshootMs`, like a real timer under load. */
class FakeClock implements ScheduleClock {
  t = 1000;
  constructor(private readonly overshootMs: number) {}
  now() {
    return this.t;
  }
  async sleepUntil(atMs: number) {
    this.t = Math.max(this.t, atMs) + this.overshootMs;
  }
}

function collect(clock: FakeClock, slots: number, onSlot?: (slot: number) => void) {
  const fired: { slot: number; due: number; at: number }[] = [];
  const abort = new AbortController();
  const done = runSchedule({
    intervalMs: 10,
    clock,
    signal: abort.signal,
    onSlot: (slot, due, at) => {
      fired.push({ slot, due, at });
      onSlot?.(slot);
      if (fired.length >= slots) abort.abort();
    },
  });
  return done.then((result) => ({ result, fired }));
}

describe("runSchedule", () => {
  it("late timers do not accumulate drift: slot k still fires at start + k·interval + lateness", async () => {
    const { result, fired } = await collect(new FakeClock(3), 100);
    expect(result).toEqual({ fired: 100, skipped: 0, maxLateMs: 3 });
    expect(fired[99]).toEqual({ slot: 99, due: 1000 + 990, at: 1000 + 993 });
    // A loop sleeping "one interval" after each wake would be at 1000 + 99 × 13 by now.
    expect(fired.every((f) => f.at - f.due === 3)).toBe(true);
  });

  it("a stall longer than an interval skips the missed slots instead of bursting them", async () => {
    const clock = new FakeClock(1);
    const { result, fired } = await collect(clock, 10, (slot) => {
      if (slot === 5) clock.t += 35; // the thread is held up for 35 ms after slot 5
    });
    expect(fired.map((f) => f.slot)).toEqual([0, 1, 2, 3, 4, 5, 8, 9, 10, 11]);
    expect(result.skipped).toBe(2);
    // Back on the grid right after the stall.
    expect(fired[7]).toEqual({ slot: 9, due: 1090, at: 1091 });
  });

  it("a timer that wakes early is put back to sleep until the slot is due", async () => {
    let t = 0;
    let early = true;
    const clock: ScheduleClock = {
      now: () => t,
      async sleepUntil(at) {
        t = early ? at - 0.4 : at;
        early = !early;
      },
    };
    const abort = new AbortController();
    const fired: number[] = [];
    await runSchedule({
      intervalMs: 10,
      clock,
      signal: abort.signal,
      onSlot: (_slot, due, at) => {
        expect(at).toBeGreaterThanOrEqual(due);
        fired.push(at);
        if (fired.length === 5) abort.abort();
      },
    });
    expect(fired).toEqual([0, 10, 20, 30, 40]);
  });

  it("refuses a non-positive interval", async () => {
    await expect(
      runSchedule({ intervalMs: 0, signal: new AbortController().signal, onSlot: () => {} }),
    ).rejects.toThrow(RangeError);
  });
});
