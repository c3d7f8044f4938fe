/**
 * `pve-evacuate qos SAMPLES.json [--json] [--labels en|id] [--chart out.png]`: metrics, downtime and
 * grades of a probe recording. SAMPLES.json is
 * `{ intervalMs, samples: [{ seq, sentAtMs, rttMs | null }], windows?: { migrationStartMs, migrationEndMs } }`
 * (optionally `method`, `probeBytes`, `migration: { durationMs, transferredBytes, memoryBytes }`).
 */
import { readFile, writeFile } from "node:fs/promises";
import { type Command, Option } from "commander";
import { z } from "zod";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import { renderTimelinePng } from "../qos/chart.ts";
import { DEFAULT_GRADING, GRADED_METRICS, GradingOverrides, withOverrides } from "../qos/grading.ts";
import { LABELS, type Language } from "../qos/labels.ts";
import type { WindowMetrics, WindowName } from "../qos/metrics.ts";
import { type QosReport, qosReport } from "../qos/report.ts";
import { formatIssuePath, parseSamplesFile } from "../qos/samples.ts";
import { outputOf, type Register } from "./program.ts";

const Options = z.object({
  json: z.boolean().optional(),
  labels: z.enum(["en", "id"]).default("en"),
  chart: z.string().optional(),
  bandwidthBps: z.coerce.number().positive().optional(),
  grading: z.string().optional(),
});

export const register: Register = (program) => {
  program
    .command("qos")
    .description("Loss, delay, jitter, throughput, client-observed downtime and grades of a probe recording.")
    .argument(
      "<samples>",
      "samples JSON file: { intervalMs, samples: [{seq, sentAtMs, rttMs|null}], windows? }",
    )
    .option("--json", "print the report as JSON")
    .addOption(new Option("--labels <language>", "grade words: en or id (Indonesian)").choices(["en", "id"]))
    .option("--chart <file.png>", "also write a PNG timeline of RTT, losses and the migration window")
    .option("--bandwidth-bps <bits>", "link bandwidth the migration's throughput is graded against")
    .option("--grading <file.json>", "override grading tables, e.g. { downtime: { better, limits } }")
    .action(async (file: string, rawOptions: unknown, command: Command) => {
      const options = Options.parse(rawOptions);
      const samples = parseSamplesFile(await readJson(file, "samples file"), `samples file "${file}"`);
      const tables = options.grading
        ? withOverrides(parseGrading(await readJson(options.grading, "grading file"), options.grading))
        : DEFAULT_GRADING;
      const report = qosReport(samples, {
        tables,
        labels: options.labels,
        ...(options.bandwidthBps ? { referenceBandwidthBps: options.bandwidthBps } : {}),
      });
      if (options.chart) {
        const png = await renderTimelinePng(samples, samples.windows, { language: options.labels });
        await writeFile(options.chart, png);
      }
      const write = outputOf(command);
      if (options.json) {
        write(`${JSON.stringify(options.chart ? { ...report, chart: options.chart } : report, null, 2)}\n`);
      } else {
        write(formatQosReport(report, options.labels));
        if (options.chart) write(`chart: ${options.chart}\n`);
      }
    });
};

async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : (code ?? "read failed");
    throw new UserError(ErrorCodes.InvalidInput, `Cannot read ${what} "${file}": ${why}.`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UserError(
      ErrorCodes.InvalidInput,
      `The ${what} "${file}" is not valid JSON: ${e instanceof Error ? e.message : String(e)}.`,
    );
  }
}

function parseGrading(data: unknown, file: string): GradingOverrides {
  const r = GradingOverrides.strict().safeParse(data);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => `  - ${formatIssuePath(i.path)}: ${i.message}`).join("\n");
  throw new UserError(
    ErrorCodes.InvalidInput,
    `Invalid grading file "${file}":\n${issues}\nKeys: ${GRADED_METRICS.join(", ")}; each { better: "lower"|"higher", limits: [{value, inclusive} ×3] }.`,
  );
}

const ms = (v: number | undefined) => (v === undefined ? "-" : v < 10 ? v.toFixed(2) : v.toFixed(1));

function windowRow(w: WindowMetrics, words: Record<WindowName, string>): string[] {
  return [
    words[w.name],
    String(w.sent),
    String(w.received),
    w.lossPct.toFixed(2),
    ms(w.rtt?.avgMs),
    ms(w.rtt?.p50Ms),
    ms(w.rtt?.p95Ms),
    ms(w.rtt?.maxMs),
    ms(w.jitter?.rfc3550Ms),
    ms(w.jitter?.meanAbsDeltaMs),
    ms(w.observedDowntimeMs),
  ];
}

/** Columns listed in `right` are right-aligned (numbers), the rest left-aligned. */
function table(rows: string[][], right: (i: number) => boolean): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => (right(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

const duration = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${ms(v)} ms`);

export function formatQosReport(report: QosReport, language: Language = "en"): string {
  const words = LABELS[language];
  const head = [
    "window",
    "sent",
    "recv",
    "loss %",
    "rtt avg",
    "p50",
    "p95",
    "max",
    "jit rfc3550",
    "jit mean",
    "outage",
  ];
  const order: WindowName[] = ["all", "baseline", "migration", "after"];
  const rows = order.flatMap((n) => {
    const w = report.windows[n];
    return w ? [windowRow(w, words.windows)] : [];
  });
  const out: string[] = [
    `QoS (probe every ${report.intervalMs} ms; times in ms)`,
    table([head, ...rows], (i) => i > 0),
    "",
  ];
  out.push(
    `client-observed downtime: ${ms(report.observedDowntimeMs)} ms (longest gap between replies ${ms(report.longestReplyGapMs)} ms)`,
  );
  if (report.missingSlots > 0) {
    out.push(
      `note: the prober skipped ${report.missingSlots} slot(s) (its thread was held up); outages overlapping them may be overstated`,
    );
  }
  if (report.migrationThroughputBps !== null) {
    out.push(`migration throughput: ${(report.migrationThroughputBps / 1e6).toFixed(1)} Mbit/s`);
  }
  out.push("", "grades:");
  const gradeRows: string[][] = [];
  for (const m of GRADED_METRICS) {
    const g = report.grades[m];
    if (g) {
      const value =
        g.unit === "x" ? `${g.value.toFixed(2)}×` : g.unit === "ms" ? duration(g.value) : `${ms(g.value)} %`;
      gradeRows.push([`  ${words.metrics[m]}`, value, g.label, `(${g.basis})`]);
    }
  }
  if (gradeRows.length > 0) out.push(table(gradeRows, (i) => i === 1));
  for (const m of GRADED_METRICS) {
    const why = report.notGraded[m];
    if (why) out.push(`  ${words.metrics[m]}: not graded (${why})`);
  }
  return `${out.join("\n")}\n`;
}
