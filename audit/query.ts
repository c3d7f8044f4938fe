/**
 * Pure side of reading the audit log: filters, `--since` parsing, one-line summaries and the
 * table / CSV / JSONL renderings. The Redis adapter and the CLI call these with plain data.
 */

import { renderBytes } from "../lib/bytes.ts";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import type { AuditEvent } from "./events.ts";
import type { VerifyResult } from "./hashChain.ts";

/** An event as read back from the log: its stream id, its hashes and its exact stored text. */
export interface StoredEvent {
  id: string;
  prev: string;
  hash: string;
  /** The canonical JSON the hash covers; exports carry it verbatim so they stay verifiable. */
  canonical: string;
  event: AuditEvent;
}

export interface EventFilter {
  node?: string;
  vmid?: number;
  /** Matches the actor's id or name (names case-insensitively). */
  user?: string;
  /** Inclusive lower bound on the event's `at`. */
  since?: Date;
  /** Exact type, or a family prefix: `migration` matches every `migration.*`. */
  type?: string;
  evacuationId?: string;
}

export function matches(filter: EventFilter, event: AuditEvent): boolean {
  if (filter.node !== undefined && event.node !== filter.node && targetOf(event) !== filter.node)
    return false;
  if (filter.vmid !== undefined && event.vmid !== filter.vmid) return false;
  if (filter.evacuationId !== undefined && event.evacuationId !== filter.evacuationId) return false;
  if (filter.user !== undefined) {
    const u = filter.user;
    const byName = event.actor.name !== undefined && event.actor.name.toLowerCase() === u.toLowerCase();
    if (event.actor.id !== u && !byName) return false;
  }
  if (filter.type !== undefined && event.type !== filter.type && !event.type.startsWith(`${filter.type}.`))
    return false;
  if (filter.since !== undefined && Date.parse(event.at) < filter.since.getTime()) return false;
  return true;
}

/** The node a migration goes to, so `--node node2` also finds what arrived on node2. */
function targetOf(event: AuditEvent): string | undefined {
  return "target" in event ? event.target : undefined;
}

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const SINCE_FORMS =
  "Use a date (2026-01-01), a date and time (2026-01-01T08:00:00Z) or a time ago (90s, 30m, 24h, 7d, 2w).";

/** `--since`: an ISO date or date-time, or a relative span counted back from `now`. */
export function parseSince(text: string, now: Date): Date {
  const value = text.trim();
  const relative = /^(\d+)\s*([smhdw])$/i.exec(value);
  if (relative) {
    const unit = (relative[2] as string).toLowerCase() as keyof typeof UNIT_MS;
    return new Date(now.getTime() - Number(relative[1]) * UNIT_MS[unit]);
  }
  // Date.parse accepts many loose forms; only ISO 8601 dates and date-times are let through.
  const iso = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;
  if (iso.test(value)) {
    const dateOnly = value.length === 10;
    // A bare date means midnight UTC; a date-time without a zone is read as UTC too, so the
    // result does not depend on the machine's time zone.
    const hasZone = /(?:Z|[+-]\d{2}:?\d{2})$/i.test(value) && !dateOnly;
    const ms = Date.parse(hasZone || dateOnly ? value.replace(" ", "T") : `${value.replace(" ", "T")}Z`);
    if (!Number.isNaN(ms) && isCalendarDate(value.slice(0, 10))) return new Date(ms);
  }
  throw new UserError(ErrorCodes.InvalidInput, `--since ${JSON.stringify(text)} is not a time.`, SINCE_FORMS);
}

/** Date.parse rolls 2026-02-30 over into March; a typo should be refused instead. */
function isCalendarDate(ymd: string): boolean {
  const [y, m, d] = ymd.split("-").map(Number) as [number, number, number];
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

/** One line saying what happened, for the table and CSV. */
export function summarize(event: AuditEvent): string {
  switch (event.type) {
    case "evacuation.requested": {
      const opts = Object.entries(event.options)
        .filter(([, v]) => v !== false && v !== null)
        .map(([k, v]) => (v === true ? k : `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`));
      return `${event.mode} ${event.source}${opts.length > 0 ? ` (${opts.join(", ")})` : ""}`;
    }
    case "plan.created": {
      const plan = event.plan;
      if (typeof plan === "object" && plan !== null && !Array.isArray(plan)) {
        const parts = ["moves", "blocked", "skipped"]
          .filter((k) => Array.isArray(plan[k]))
          .map((k) => `${(plan[k] as unknown[]).length} ${k}`);
        if (parts.length > 0) return `plan: ${parts.join(", ")}`;
      }
      return "plan created";
    }
    case "evacuation.confirmed":
      return "confirmed";
    case "evacuation.cancelled":
      return `cancelled${event.abortRunning ? ", running migration aborted" : ""}${event.reason ? `: ${event.reason}` : ""}`;
    case "migration.queued":
      return `queued → ${event.target}${event.position !== undefined ? ` (#${event.position})` : ""}`;
    case "migration.state":
      return `${event.from} → ${event.to}${event.step ? ` (${event.step})` : ""}`;
    case "precheck.result": {
      const count = (s: string) => event.items.filter((i) => i.status === s).length;
      const failed = event.items.filter((i) => i.status === "fail").map((i) => i.reason ?? i.name);
      return `precheck: ${count("pass")} pass, ${count("warn")} warn, ${count("fail")} fail${
        failed.length > 0 ? ` (${failed.join("; ")})` : ""
      }`;
    }
    case "migration.started":
      return `started → ${event.target} ${event.upid}`;
    case "migration.progress":
      return `progress${event.percent !== undefined ? ` ${event.percent.toFixed(0)}%` : ""}`;
    case "migration.result": {
      const parts: string[] = [`${event.status}${event.target ? ` → ${event.target}` : ""}`];
      const pve = event.pve;
      if (pve?.durationMs !== undefined) parts.push(`took ${seconds(pve.durationMs)}`);
      if (pve?.downtimeMs !== undefined) parts.push(`downtime ${pve.downtimeMs} ms`);
      if (pve?.transferredBytes !== undefined) parts.push(`sent ${renderBytes(pve.transferredBytes)}`);
      const qos = event.qos;
      if (qos?.observedDowntimeMs !== undefined)
        parts.push(`clients saw ${Math.round(qos.observedDowntimeMs)} ms outage`);
      if (qos?.loss !== undefined) parts.push(`loss ${(qos.loss * 100).toFixed(2)}%`);
      if (event.error) parts.push(`error: ${event.error.message}`);
      return parts.join(", ");
    }
    case "evacuation.finished": {
      const s = event.summary;
      return `${event.status}: ${s.moved} moved, ${s.failed} failed, ${s.skipped} skipped, ${s.blocked} blocked${
        s.aborted ? `, ${s.aborted} aborted` : ""
      }`;
    }
    case "command.denied":
      return `denied ${event.command}: ${event.reason}`;
    case "error":
      return `${event.code}: ${event.message}`;
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

function actorLabel(event: AuditEvent): string {
  return `${event.actor.kind}:${event.actor.name ?? event.actor.id}`;
}

/** `2026-01-01 08:00:00Z`: UTC, to the second, sortable. */
function timeLabel(at: string): string {
  const ms = Date.parse(at);
  return Number.isNaN(ms) ? at : `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")}Z`;
}

export function formatTable(events: readonly StoredEvent[]): string {
  if (events.length === 0) return "No audit events match.\n";
  const header = ["TIME", "ACTOR", "TYPE", "NODE", "VM", "SUMMARY"];
  const rows = events.map(({ event }) => [
    timeLabel(event.at),
    actorLabel(event),
    event.type,
    event.node ?? "",
    event.vmid === undefined ? "" : String(event.vmid),
    summarize(event),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] as number)))
      .join("  ")
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join("\n")}\n`;
}

const CSV_COLUMNS = [
  "id",
  "at",
  "actor_kind",
  "actor_id",
  "actor_name",
  "type",
  "evacuation_id",
  "node",
  "vmid",
  "summary",
  "event",
  "hash",
] as const;

/**
 * RFC 4180: fields with a comma, quote or line break are quoted, quotes doubled. Text a
 * spreadsheet would run as a formula (= + - @ tab CR at the start) gets a leading apostrophe:
 * names and reasons come from chat users.
 */
export function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) && !/^-?\d+(\.\d+)?$/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function formatCsv(events: readonly StoredEvent[]): string {
  const rows = events.map(({ id, hash, canonical, event }) => [
    id,
    event.at,
    event.actor.kind,
    event.actor.id,
    event.actor.name ?? "",
    event.type,
    event.evacuationId ?? "",
    event.node ?? "",
    event.vmid === undefined ? "" : String(event.vmid),
    summarize(event),
    canonical,
    hash,
  ]);
  return [CSV_COLUMNS as readonly string[], ...rows].map((r) => `${r.map(csvField).join(",")}\r\n`).join("");
}

/** One JSON object per line: `{"id","prev","hash","event"}` with the event's stored text verbatim. */
export function formatJsonl(events: readonly StoredEvent[]): string {
  return events
    .map(
      (e) =>
        `{"id":${JSON.stringify(e.id)},"prev":${JSON.stringify(e.prev)},"hash":${JSON.stringify(e.hash)},"event":${e.canonical}}\n`,
    )
    .join("");
}

export type OutputFormat = "table" | "csv" | "jsonl";
export const OUTPUT_FORMATS: readonly OutputFormat[] = ["table", "csv", "jsonl"];

export function formatEvents(events: readonly StoredEvent[], format: OutputFormat): string {
  switch (format) {
    case "table":
      return formatTable(events);
    case "csv":
      return formatCsv(events);
    case "jsonl":
      return formatJsonl(events);
  }
}

/** What a verify result means for a person, entries numbered from 1. */
export function describeVerifyResult(result: VerifyResult): string {
  if (result.ok) return `Audit log intact: ${result.count} entries, head ${result.head}.`;
  const n = result.index + 1;
  const at = result.id === undefined ? "" : ` (stream id ${result.id})`;
  const intact = `The ${result.index} entries before it verify.`;
  switch (result.reason) {
    case "prev-mismatch":
      return `Audit log broken at entry #${n}${at}: it does not follow entry #${result.index}; an entry before it was removed, or it was inserted. ${intact}`;
    case "hash-mismatch":
      return `Audit log broken at entry #${n}${at}: its content no longer matches its hash; it was edited. ${intact}`;
    case "not-canonical":
      return `Audit log broken at entry #${n}${at}: its text was rewritten outside pve-evacuate. ${intact}`;
    case "head-mismatch":
      return `Audit log broken at its end: the last entry is #${result.index}${at} but the head records another hash; entries were removed from the end, or added around the log. ${result.detail}.`;
  }
}
