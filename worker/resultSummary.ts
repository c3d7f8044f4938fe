/**
 * Plain-text views of migration results and progress, shared by the terminal and chat front ends
 * (Discord embeds build from the same facts). Pure.
 */
import { renderBytes } from "../lib/bytes.ts";
import type { MigrationResult } from "./migrateVm.ts";

export function formatMs(ms: number | undefined | null): string {
  if (ms === undefined || ms === null) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function progressBar(fraction: number, width = 20): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * width);
  return `[${"#".repeat(full)}${"-".repeat(width - full)}] ${Math.round(f * 100)
    .toString()
    .padStart(3)}%`;
}

const STATUS_WORD: Record<MigrationResult["status"], string> = {
  succeeded: "moved",
  failed: "FAILED",
  blocked: "BLOCKED",
  cancelled: "cancelled",
  skipped: "skipped",
};

interface GradeLike {
  label?: unknown;
}

/** Grades as "downtime: good, delay: very good"; the QoS report decides the labels and language. */
export function gradeLine(result: MigrationResult): string | undefined {
  if (!result.qos?.measured) return undefined;
  const grades = result.qos.report.grades;
  if (typeof grades !== "object" || grades === null) return undefined;
  const parts = Object.entries(grades as Record<string, GradeLike>)
    .filter(([, g]) => typeof g?.label === "string")
    .map(([name, g]) => `${name}: ${String(g.label)}`);
  return parts.length > 0 ? parts.join(", ") : undefined;
}

/** One result as a short block of lines (the terminal's "result card"). */
export function formatResult(r: MigrationResult): string {
  const head = `VM ${r.vmid} (${r.name}) ${r.source} → ${r.target}: ${STATUS_WORD[r.status]}`;
  const lines = [head];
  if (r.pve) {
    const data =
      r.pve.transferredBytes !== undefined
        ? `${renderBytes(r.pve.transferredBytes)} sent${r.pve.totalBytes !== undefined ? ` (VM state ${renderBytes(r.pve.totalBytes)})` : ""}`
        : "—";
    lines.push(
      `  migration time ${formatMs(r.pve.durationMs)} · PVE downtime ${formatMs(r.pve.downtimeMs)} · data ${data}`,
    );
  }
  if (r.qos?.measured) {
    lines.push(
      `  client-observed downtime ${formatMs(r.qos.observedDowntimeMs)} (${r.qos.method} ${r.qos.address})`,
    );
    const grades = gradeLine(r);
    if (grades) lines.push(`  grades: ${grades}`);
  } else if (r.qos) {
    lines.push(`  QoS not measured: ${r.qos.reason}`);
  }
  if (r.adopted) lines.push("  (taken over from a worker that stopped mid-migration)");
  if (r.error && r.status !== "succeeded") lines.push(`  reason: ${r.error}`);
  return lines.join("\n");
}

export function summarize(results: readonly MigrationResult[]): string {
  const count = (s: MigrationResult["status"]) => results.filter((r) => r.status === s).length;
  const parts = [`${count("succeeded")} moved`];
  for (const s of ["failed", "blocked", "skipped", "cancelled"] as const) {
    if (count(s) > 0) parts.push(`${count(s)} ${s}`);
  }
  return parts.join(", ");
}
