/**
 * Proxmox VE's phase-2 monitor loop (qemu-server QemuMigrate.pm), pure: fed one `query-migrate` answer per
 * poll, it says what PVE logs, how long it sleeps before the next poll and when it raises the downtime
 * limit. The QEMU lab runs it against a real QEMU so the task log is written from real figures, with
 * PVE's cadence: first poll after 1 s, every 100 ms once what remains is below the average per poll
 * (logging then only every 10th poll), the limit doubled after more than five polls in which the remaining
 * amount grew, and the target resumed only after a poll has seen `completed`.
 */
import { z } from "zod";
import { renderBytes } from "../../lib/bytes.ts";

const count = z.number().nonnegative();

/** The parts of QMP `query-migrate` PVE reads (QEMU sends more). */
export const QueryMigrate = z
  .object({
    status: z.string().optional(),
    "total-time": count.optional(),
    downtime: count.optional(),
    "expected-downtime": count.optional(),
    "setup-time": count.optional(),
    "error-desc": z.string().optional(),
    ram: z
      .object({
        transferred: count,
        remaining: count,
        total: count,
        duplicate: count.optional(),
        normal: count.optional(),
        mbps: count.optional(),
        "dirty-sync-count": count.optional(),
        "page-size": count.optional(),
        "pages-per-second": count.optional(),
        "dirty-pages-rate": count.optional(),
        "precopy-bytes": count.optional(),
        "downtime-bytes": count.optional(),
      })
      .loose()
      .optional(),
    "xbzrle-cache": z
      .object({
        bytes: count.optional(),
        pages: count.optional(),
        "cache-miss-rate": z.number().optional(),
        overflow: count.optional(),
      })
      .loose()
      .optional(),
    "cpu-throttle-percentage": count.optional(),
  })
  .loose();
export type QueryMigrate = z.infer<typeof QueryMigrate>;

/** QEMU's ceiling for downtime-limit (ms). */
export const MAX_DOWNTIME_LIMIT_MS = 2_000_000;

export interface LoopState {
  /** Polls so far. */
  i: number;
  /** `transferred` at the previous poll. */
  lstat: number;
  /** Sleep before the next poll. */
  sleepMs: number;
  lastRemaining?: number;
  downtimeCounter: number;
  downtimeLimitMs: number;
  /** When `migrate` was sent (ms since epoch); PVE's `$start = time()`. */
  startEpochMs: number;
}

export interface LoopLine {
  level: "info" | "err";
  text: string;
}

export type LoopVerdict =
  | { kind: "continue" }
  | { kind: "completed"; downtimeMs?: number }
  | { kind: "failed"; error: string };

export interface LoopStep {
  state: LoopState;
  lines: LoopLine[];
  /** Send `migrate-set-parameters downtime-limit` with this value. */
  setDowntimeLimitMs?: number;
  verdict: LoopVerdict;
}

export function initialLoopState(downtimeLimitMs: number, startEpochMs: number): LoopState {
  return { i: 0, lstat: 0, sleepMs: 1000, downtimeCounter: 0, downtimeLimitMs, startEpochMs };
}

/** `migration active, transferred X of Y VM-state, Z/s[, VM dirties lots of memory: D/s]`. */
export function progressLine(stat: QueryMigrate): string {
  const ram = stat.ram;
  const pageSize = ram?.["page-size"] ?? 0;
  const speed = (ram?.["pages-per-second"] ?? 0) * pageSize;
  const dirty = (ram?.["dirty-pages-rate"] ?? 0) * pageSize;
  let text = `migration ${stat.status ?? "active"}, transferred ${renderBytes(ram?.transferred ?? 0)} of ${renderBytes(ram?.total ?? 0)} VM-state, ${renderBytes(speed)}/s`;
  if (dirty > speed) text += `, VM dirties lots of memory: ${renderBytes(dirty)}/s`;
  return text;
}

/** The xbzrle line PVE adds to a progress line when the cache is in use. */
export function xbzrleLine(stat: QueryMigrate): string | undefined {
  const x = stat["xbzrle-cache"];
  if (!x || !(x.bytes || x.pages)) return undefined;
  let msg = `send updates to ${x.pages ?? 0} pages in ${renderBytes(x.bytes ?? 0)} encoded memory`;
  if (x["cache-miss-rate"]) msg += `, cache-miss ${(x["cache-miss-rate"] * 100).toFixed(2)}%`;
  if (x.overflow) msg += `, overflow ${x.overflow}`;
  return `xbzrle: ${msg}`;
}

/** The lines PVE logs on the poll that sees `completed` (`delayS` = whole seconds since `migrate`). */
export function completionLines(stat: QueryMigrate, delayS: number, pveVersion: 8 | 9 = 9): string[] {
  const lines: string[] = [];
  if (delayS > 0) {
    const avg = renderBytes((stat.ram?.total ?? 0) / delayS);
    lines.push(`average migration speed: ${avg}/s - downtime ${stat.downtime ?? 0} ms`);
  }
  if (pveVersion === 9) {
    lines.push(`migration completed, transferred ${renderBytes(stat.ram?.transferred ?? 0)} VM-state`);
  }
  lines.push("migration status: completed");
  return lines;
}

/** One poll: what PVE does with this `query-migrate` answer, taken at `nowEpochMs`. */
export function pollStep(
  prev: LoopState,
  stat: QueryMigrate,
  nowEpochMs: number,
  pveVersion: 8 | 9 = 9,
): LoopStep {
  const state: LoopState = { ...prev, i: prev.i + 1 };
  const avgLstat = prev.lstat ? prev.lstat / state.i : 0;
  const status = stat.status;
  if (status === "setup")
    return { state: { ...state, sleepMs: 1000 }, lines: [], verdict: { kind: "continue" } };
  if (status === "completed") {
    const delayS = Math.floor(nowEpochMs / 1000) - Math.floor(prev.startEpochMs / 1000);
    return {
      state,
      lines: completionLines(stat, delayS, pveVersion).map((text) => ({ level: "info", text })),
      verdict: { kind: "completed", ...(stat.downtime !== undefined ? { downtimeMs: stat.downtime } : {}) },
    };
  }
  if (status === "failed" || status === "cancelled") {
    const message = stat["error-desc"] ? `${status} - ${stat["error-desc"]}` : status;
    return {
      state,
      lines: [{ level: "info", text: `migration status error: ${message}` }],
      verdict: { kind: "failed", error: "aborting" },
    };
  }
  if (status !== "active" && status !== "pre-switchover" && status !== "device") {
    // PVE dies on a status it cannot parse; the newer QEMU transitional states it treats as not-yet-done
    return {
      state,
      lines: [],
      verdict: { kind: "failed", error: `unable to parse migration status '${status ?? ""}' - aborting` },
    };
  }
  const lines: LoopLine[] = [];
  let setDowntimeLimitMs: number | undefined;
  const transferred = stat.ram?.transferred ?? 0;
  if (status === "active" && transferred !== prev.lstat) {
    const rem = stat.ram?.remaining ?? 0;
    if (avgLstat && rem < avgLstat) state.sleepMs = 100;
    const shouldLog = state.sleepMs > 100 || state.i % 10 === 0;
    if (shouldLog) {
      lines.push({ level: "info", text: progressLine(stat) });
      const x = xbzrleLine(stat);
      if (x) lines.push({ level: "info", text: x });
    }
    if ((prev.lastRemaining && rem > prev.lastRemaining) || rem === 0) state.downtimeCounter++;
    state.lastRemaining = rem;
    if (state.downtimeCounter > 5) {
      state.downtimeCounter = 0;
      let limit = state.downtimeLimitMs * 2;
      if (limit > MAX_DOWNTIME_LIMIT_MS) {
        limit = MAX_DOWNTIME_LIMIT_MS;
        lines.push({ level: "info", text: `capping downtime limit to maximum possible: ${limit} ms` });
      }
      if (limit !== state.downtimeLimitMs) {
        state.downtimeLimitMs = limit;
        lines.push({ level: "info", text: `auto-increased downtime to continue migration: ${limit} ms` });
        setDowntimeLimitMs = limit;
      }
    }
  }
  state.lstat = transferred;
  return {
    state,
    lines,
    ...(setDowntimeLimitMs !== undefined ? { setDowntimeLimitMs } : {}),
    verdict: { kind: "continue" },
  };
}
