/**
 * Card builders: plain facts in, a chat card out. Pure, shared by Discord and the terminal. Long lists
 * are cut here with "… and N more" (the adapters also enforce their hard size limits).
 */
import { type StoredEvent, summarize as summarizeEvent } from "../audit/query.ts";
import { renderBytes } from "../lib/bytes.ts";
import type { ClusterView } from "../planning/clusterView.ts";
import type { EvacuationRecord } from "../worker/evacuationStore.ts";
import type { MigrationResult } from "../worker/migrateVm.ts";
import type { CancelOutcome, EvacuationStatusView } from "../worker/queue.ts";
import { formatMs, progressBar } from "../worker/resultSummary.ts";
import type { Card, CardField, CardTone } from "./chatPort.ts";
import { customId } from "./customIds.ts";
import type { PlanView } from "./planView.ts";

export const PLAN_PREFIX = "plan";
const MAX_LIST = 20;

export interface PlanCardOptions {
  /** Pending plan id: adds Confirm/Cancel. Absent for a dry run or when nothing can move. */
  planId?: string;
  expiresAt?: number;
  requestedBy?: string;
  dryRun?: boolean;
}

/**
 * At most `max` items and `budget` characters, then "… and N more": the count line must survive the
 * adapters' hard limits (an embed description is clipped at 4096), or a plan would hide moves that
 * Confirm then queues.
 */
function capped<T>(
  items: readonly T[],
  line: (item: T) => string[],
  max = MAX_LIST,
  budget = max === MAX_LIST ? 3500 : 900,
): string[] {
  const out: string[] = [];
  let used = 0;
  let shown = 0;
  for (const item of items) {
    if (shown >= max) break;
    const lines = line(item);
    const size = lines.reduce((n, l) => n + l.length + 1, 0);
    if (shown > 0 && used + size > budget) break;
    out.push(...lines);
    used += size;
    shown++;
  }
  if (items.length > shown) out.push(`… and ${items.length - shown} more`);
  return out;
}

function planTitle(p: PlanView): string {
  switch (p.kind) {
    case "evacuate":
      return `Evacuation plan for ${p.node}`;
    case "migrate":
      return `Migration plan: ${p.moves[0] ? `VM ${p.moves[0].vmid} → ${p.moves[0].target}` : p.node}`;
    case "return":
      return `Return plan: back to ${p.node}`;
  }
}

export function planCard(p: PlanView, o: PlanCardOptions = {}): Card {
  const lines: string[] = [];
  if (p.moves.length === 0) lines.push("Nothing can be moved.");
  else {
    lines.push(`Moves (${p.moves.length}), one at a time in this order:`);
    lines.push(
      ...capped(p.moves, (m) => [
        `${p.moves.indexOf(m) + 1}. VM ${m.vmid} ${m.name} (${m.type}, ${renderBytes(m.memoryBytes)}) ${m.source} → ${m.target}, ${m.mode}${m.withLocalDisks ? " + local disks" : ""}`,
        ...m.notes.map((n) => `   - ${n}`),
      ]),
    );
  }
  const fields: CardField[] = [];
  if (p.blocked.length > 0)
    fields.push({
      name: `Blocked (${p.blocked.length}): cannot move`,
      value: capped(p.blocked, (b) => [`VM ${b.vmid} ${b.name}: ${b.reasons.join("; ")}`], 10).join("\n"),
    });
  if (p.skipped.length > 0)
    fields.push({
      name: `Skipped (${p.skipped.length}): left in place`,
      value: capped(p.skipped, (s) => [`VM ${s.vmid} ${s.name}: ${s.reason}`], 10).join("\n"),
    });
  const used = (p.targets ?? []).filter((t) => t.moves > 0);
  if (used.length > 0)
    fields.push({
      name: "Targets",
      value: used
        .map(
          (t) =>
            `${t.node}: ${t.moves} VM(s), free ${renderBytes(t.memoryFreeBytes)} → ${renderBytes(t.memoryFreeAfterBytes)}`,
        )
        .join("\n"),
    });
  const card: Card = {
    title: planTitle(p),
    lines,
    fields,
    tone: p.moves.length === 0 ? "warning" : p.blocked.length > 0 ? "warning" : "info",
  };
  const footer: string[] = [];
  if (o.dryRun) footer.push("Dry run: nothing will be queued.");
  if (o.requestedBy) footer.push(`Requested by ${o.requestedBy}.`);
  if (o.planId && p.moves.length > 0 && !o.dryRun) {
    card.buttons = [
      { id: customId(PLAN_PREFIX, "confirm", o.planId), label: "Confirm", style: "danger" },
      { id: customId(PLAN_PREFIX, "cancel", o.planId), label: "Cancel", style: "secondary" },
    ];
    if (o.expiresAt !== undefined)
      footer.push(
        `Only the requester can confirm, until ${new Date(o.expiresAt).toISOString().slice(11, 19)} UTC.`,
      );
  }
  if (footer.length > 0) card.footer = footer.join(" ");
  return card;
}

/** The plan card once it was confirmed or cancelled: same facts, no buttons, what happened on top. */
export function settledPlanCard(card: Card, outcome: string, tone: CardTone): Card {
  const { buttons: _buttons, ...rest } = card;
  return { ...rest, tone, footer: outcome };
}

// ── progress ────────────────────────────────────────────────────────────────────────────────────

export interface ProgressItem {
  vmid: number;
  name: string;
  target: string;
  state: "waiting" | "running" | "done";
  /** Running: the worker's step (prechecks, migrating, …). */
  step?: string;
  /** Running: share of memory transferred so far, 0..1. */
  fraction?: number;
  result?: MigrationResult["status"];
}

export interface ProgressView {
  evacuationId: string;
  kind: EvacuationRecord["kind"];
  source: string;
  status: EvacuationRecord["status"];
  total: number;
  requestedBy?: string;
  stopReason?: string;
  items: readonly ProgressItem[];
}

const RESULT_WORD: Record<MigrationResult["status"], string> = {
  succeeded: "moved",
  failed: "FAILED",
  blocked: "blocked",
  cancelled: "cancelled",
  skipped: "skipped",
};

const RESULT_MARK: Record<MigrationResult["status"], string> = {
  succeeded: "✅",
  failed: "❌",
  blocked: "⛔",
  cancelled: "⏹",
  skipped: "⏭",
};

export function evacuationLabel(kind: EvacuationRecord["kind"], source: string): string {
  switch (kind) {
    case "evacuate":
      return `Evacuation of ${source}`;
    case "migrate":
      return `Migration from ${source}`;
    case "return":
      return `Return from ${source}`;
  }
}

export function overallFraction(v: ProgressView): number {
  if (v.total === 0) return 1;
  const done = v.items.filter((i) => i.state === "done").length;
  const running = v.items.find((i) => i.state === "running");
  return Math.min(1, (done + (running?.fraction ?? 0)) / v.total);
}

export function progressCard(v: ProgressView): Card {
  const done = v.items.filter((i) => i.state === "done").length;
  const ended = v.status !== "running";
  const lines = [
    `${progressBar(ended && done >= v.total ? 1 : overallFraction(v))}  ${done} of ${v.total} done`,
  ];
  lines.push(
    ...capped(
      v.items,
      (i) => {
        if (i.state === "done" && i.result)
          return [`${RESULT_MARK[i.result]} VM ${i.vmid} ${i.name} → ${i.target}: ${RESULT_WORD[i.result]}`];
        if (i.state === "running")
          return [
            `▶ VM ${i.vmid} ${i.name} → ${i.target}: ${i.step ?? "running"}${i.fraction !== undefined ? ` ${progressBar(i.fraction, 10)}` : ""}`,
          ];
        return [`… VM ${i.vmid} ${i.name} → ${i.target}: waiting`];
      },
      25,
    ),
  );
  if (v.stopReason && v.status !== "finished") lines.push(`Stopped: ${v.stopReason}`);
  const statusWord = { running: "running", finished: "finished", stopped: "stopped", cancelled: "cancelled" }[
    v.status
  ];
  return {
    title: `${evacuationLabel(v.kind, v.source)}: ${statusWord}`,
    lines,
    tone: v.status === "running" ? "info" : v.status === "finished" ? "success" : "warning",
    footer: `${v.evacuationId}${v.requestedBy ? ` · requested by ${v.requestedBy}` : ""}`,
  };
}

// ── results ─────────────────────────────────────────────────────────────────────────────────────

interface GradeView {
  metric: string;
  value: number;
  unit: string;
  label: string;
}

/** Grades out of the QoS report (owned by qos/), read defensively: it crosses Redis as JSON. */
export function gradesOf(result: MigrationResult): GradeView[] {
  if (!result.qos?.measured) return [];
  const grades = result.qos.report.grades;
  if (typeof grades !== "object" || grades === null) return [];
  const out: GradeView[] = [];
  for (const [metric, g] of Object.entries(grades as Record<string, unknown>)) {
    if (typeof g !== "object" || g === null) continue;
    const { value, unit, label } = g as { value?: unknown; unit?: unknown; label?: unknown };
    if (typeof value === "number" && typeof unit === "string" && typeof label === "string")
      out.push({ metric, value, unit, label });
  }
  return out;
}

const METRIC_WORD: Record<string, string> = {
  delay: "delay",
  jitter: "jitter",
  loss: "packet loss",
  throughput: "throughput",
  migrationTime: "migration time",
  downtime: "downtime (clients)",
  data: "data / memory",
};

function gradeValue(g: GradeView): string {
  if (g.unit === "ms") return g.value < 10 ? `${g.value.toFixed(1)} ms` : formatMs(g.value);
  if (g.unit === "%") return `${g.value.toFixed(g.value < 10 ? 2 : 1)} %`;
  return `${g.value.toFixed(2)}×`;
}

export function chartAttachmentName(vmid: number): string {
  return `chart-${vmid}.png`;
}

export function resultCard(r: MigrationResult, o: { chart?: Uint8Array } = {}): Card {
  const fields: CardField[] = [];
  const pve = r.pve;
  fields.push({ name: "PVE downtime", value: formatMs(pve?.downtimeMs), inline: true });
  const observed = r.qos?.measured ? formatMs(r.qos.observedDowntimeMs) : "not measured";
  fields.push({ name: "Client-observed downtime", value: observed, inline: true });
  fields.push({ name: "Migration time", value: formatMs(pve?.durationMs), inline: true });
  if (pve?.transferredBytes !== undefined)
    fields.push({
      name: "Data transferred",
      value: `${renderBytes(pve.transferredBytes)}${pve.totalBytes !== undefined ? ` (memory ${renderBytes(pve.totalBytes)})` : ""}`,
      inline: true,
    });
  if (pve?.averageSpeedBytesPerSecond !== undefined)
    fields.push({
      name: "Average speed",
      value: `${renderBytes(pve.averageSpeedBytesPerSecond)}/s`,
      inline: true,
    });
  const grades = gradesOf(r);
  if (grades.length > 0)
    fields.push({
      name: "QoS grades",
      value: grades
        .map((g) => `${METRIC_WORD[g.metric] ?? g.metric}: ${gradeValue(g)} — ${g.label}`)
        .join("\n"),
    });
  const lines: string[] = [];
  if (r.qos?.measured) lines.push(`Probed ${r.qos.address} (${r.qos.method}).`);
  else if (r.qos) lines.push(`QoS not measured: ${r.qos.reason}`);
  if (r.adopted) lines.push("Taken over from a worker that stopped mid-migration.");
  if (r.error && r.status !== "succeeded") lines.push(`Reason: ${r.error}`);
  const failedChecks = (r.checklist ?? []).filter((c) => c.status !== "pass");
  for (const c of failedChecks.slice(0, 5)) lines.push(`Pre-check ${c.name} ${c.status}: ${c.reason}`);
  const card: Card = {
    title: `${RESULT_MARK[r.status]} VM ${r.vmid} (${r.name}) ${r.source} → ${r.target}: ${RESULT_WORD[r.status]}`,
    lines,
    fields,
    tone: toneOf(r.status),
  };
  if (r.upid) card.footer = r.upid;
  if (o.chart) {
    const name = chartAttachmentName(r.vmid);
    card.attachments = [{ name, data: o.chart, contentType: "image/png" }];
    card.image = name;
  }
  return card;
}

function toneOf(status: MigrationResult["status"]): CardTone {
  if (status === "succeeded") return "success";
  if (status === "failed" || status === "blocked") return "danger";
  return "warning";
}

export function countResults(results: readonly MigrationResult[]): Record<MigrationResult["status"], number> {
  const counts = { succeeded: 0, failed: 0, blocked: 0, cancelled: 0, skipped: 0 };
  for (const r of results) counts[r.status]++;
  return counts;
}

export function summaryCard(
  record: Pick<EvacuationRecord, "id" | "kind" | "source" | "status" | "stopReason" | "requestedBy">,
  results: readonly MigrationResult[],
): Card {
  const c = countResults(results);
  const parts = [`${c.succeeded} moved`];
  for (const s of ["failed", "blocked", "skipped", "cancelled"] as const)
    if (c[s] > 0) parts.push(`${c[s]} ${s}`);
  const lines = capped(
    results,
    (r) => {
      const extra: string[] = [];
      if (r.pve?.downtimeMs !== undefined) extra.push(`PVE downtime ${formatMs(r.pve.downtimeMs)}`);
      if (r.qos?.measured) extra.push(`clients ${formatMs(r.qos.observedDowntimeMs)}`);
      if (r.pve?.durationMs !== undefined) extra.push(`took ${formatMs(r.pve.durationMs)}`);
      if (r.status !== "succeeded" && r.error) extra.push(r.error);
      return [
        `${RESULT_MARK[r.status]} VM ${r.vmid} ${r.name} → ${r.target}: ${RESULT_WORD[r.status]}${extra.length > 0 ? ` (${extra.join(", ")})` : ""}`,
      ];
    },
    25,
  );
  const fields: CardField[] = [];
  const moved = results.filter((r) => r.status === "succeeded");
  const sum = (f: (r: MigrationResult) => number | undefined) => moved.reduce((s, r) => s + (f(r) ?? 0), 0);
  if (moved.length > 0) {
    fields.push({
      name: "Total migration time",
      value: formatMs(sum((r) => r.pve?.durationMs)),
      inline: true,
    });
    if (moved.some((r) => r.pve?.transferredBytes !== undefined))
      fields.push({
        name: "Data transferred",
        value: renderBytes(sum((r) => r.pve?.transferredBytes)),
        inline: true,
      });
    const observed = moved
      .map((r) => (r.qos?.measured ? r.qos.observedDowntimeMs : null))
      .filter((v): v is number => v !== null);
    if (observed.length > 0)
      fields.push({ name: "Longest client outage", value: formatMs(Math.max(...observed)), inline: true });
  }
  if (record.stopReason && record.status !== "finished")
    fields.push({ name: record.status === "cancelled" ? "Cancelled" : "Stopped", value: record.stopReason });
  const failed = c.failed + c.blocked > 0;
  const word =
    record.status === "finished" ? (failed ? "finished with failures" : "completed") : record.status;
  return {
    title: `${evacuationLabel(record.kind, record.source)} ${word}: ${parts.join(", ")}`,
    lines,
    fields,
    tone: failed ? "danger" : record.status === "finished" ? "success" : "warning",
    footer: `${record.id} · requested by ${record.requestedBy.name ?? record.requestedBy.id}`,
  };
}

// ── status, cancel, nodes, audit ────────────────────────────────────────────────────────────────

export function statusCard(views: readonly EvacuationStatusView[]): Card {
  if (views.length === 0)
    return { title: "No evacuation is running", lines: ["The queue is empty."], tone: "info" };
  const fields: CardField[] = views.slice(0, 10).map((v) => {
    const lines: string[] = [];
    if (v.running)
      lines.push(`▶ VM ${v.running.vmid} ${v.running.name} → ${v.running.target}: ${v.running.step}`);
    lines.push(...capped(v.waiting, (w) => [`… VM ${w.vmid} ${w.name} → ${w.target}: waiting`], 10));
    if (v.done.length > 0)
      lines.push(
        `Done: ${v.done.map((d) => `${d.vmid} ${RESULT_WORD[d.status as MigrationResult["status"]] ?? d.status}`).join(", ")}`,
      );
    return {
      name: `${evacuationLabel(v.record.kind, v.record.source)} (${v.record.id}), ${v.done.length}/${v.record.total} done`,
      value: lines.join("\n") || "starting",
    };
  });
  return { title: `${views.length} evacuation(s) running`, fields, tone: "info" };
}

export function cancelCard(o: CancelOutcome): Card {
  const lines = [
    o.removed.length > 0
      ? `Removed from the queue: ${o.removed.map((v) => `VM ${v}`).join(", ")}.`
      : "Nothing was waiting.",
  ];
  if (o.aborted)
    lines.push(
      `Aborted the running migration of VM ${o.aborted.vmid} (${o.aborted.upid}); PVE keeps it where it was.`,
    );
  if (o.leftRunning)
    lines.push(
      `VM ${o.leftRunning.vmid} is migrating and was left to finish (use abort_running to stop it).`,
    );
  return { title: `Evacuation ${o.evacuationId} cancelled`, lines, tone: "warning" };
}

export function nodesCard(view: ClusterView): Card {
  const running = (node: string) =>
    view.guests.filter((g) => g.node === node && g.status === "running").length;
  const total = (node: string) => view.guests.filter((g) => g.node === node).length;
  const lines = capped(
    view.nodes,
    (n) => {
      const used = n.memoryTotalBytes > 0 ? 1 - n.memoryFreeBytes / n.memoryTotalBytes : 0;
      const state = !n.online ? "OFFLINE" : n.maintenance ? "maintenance" : "online";
      return [
        `${n.online ? (n.maintenance ? "🛠" : "🟢") : "🔴"} ${n.name}: ${state} · memory ${renderBytes(n.memoryFreeBytes)} free of ${renderBytes(n.memoryTotalBytes)} (${Math.round(used * 100)} % used) · ${running(n.name)} running of ${total(n.name)} guests`,
      ];
    },
    25,
  );
  const offline = view.nodes.filter((n) => !n.online).length;
  const maintenance = view.nodes.filter((n) => n.online && n.maintenance).length;
  return {
    title: `Cluster: ${view.nodes.length} node(s), ${view.quorate ? "quorate" : "NOT quorate"}`,
    lines,
    tone: !view.quorate || offline > 0 ? "danger" : maintenance > 0 ? "warning" : "success",
    footer: `${offline} offline, ${maintenance} in maintenance`,
  };
}

function timeLabel(at: string): string {
  const ms = Date.parse(at);
  return Number.isNaN(ms) ? at : `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")}Z`;
}

export function auditCard(
  events: readonly StoredEvent[],
  o: { filter: string; csv?: { name: string; data: Uint8Array } },
): Card {
  const shown = events.slice(-15);
  const lines =
    events.length === 0
      ? ["No audit events match."]
      : shown.map(({ event }) => {
          const who = event.actor.name ?? event.actor.id;
          const where = [event.node, event.vmid === undefined ? undefined : `VM ${event.vmid}`]
            .filter(Boolean)
            .join(" ");
          return `${timeLabel(event.at)} ${who}: ${event.type}${where ? ` [${where}]` : ""} ${summarizeEvent(event)}`;
        });
  if (events.length > shown.length)
    lines.unshift(`Newest ${shown.length} of ${events.length} (all of them in the CSV):`);
  const card: Card = { title: `Audit log${o.filter ? ` (${o.filter})` : ""}`, lines, tone: "info" };
  if (o.csv) card.attachments = [{ name: o.csv.name, data: o.csv.data, contentType: "text/csv" }];
  return card;
}

export function errorCard(message: string): Card {
  return { title: "Not done", lines: [message], tone: "danger" };
}
