/**
 * `pve-evacuate parse-task-log FILE [--json]`: summarise a saved Proxmox VE migration task log.
 * FILE is the log as text (GUI "Output" tab, `pvenode task log`) or the API's JSON (`[{n,t}]` or
 * `{"data":[{n,t}]}`); `-` reads stdin.
 */
import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { z } from "zod";
import { renderBytes } from "../lib/bytes.ts";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import { TaskLog } from "../proxmox/schemas.ts";
import {
  type MigrationTaskReport,
  parseTaskLogEntries,
  parseTaskLogText,
  type TaskLogContext,
} from "../proxmox/taskLog.ts";
import { outputOf, type Register } from "./program.ts";

export interface ParseTaskLogDeps {
  readStdin: () => Promise<string>;
}

async function readProcessStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin)
    chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString("utf8");
}

const ApiLog = z.union([TaskLog, z.object({ data: TaskLog })]);

const Options = z.object({
  json: z.boolean().optional(),
  upid: z.string().optional(),
  sourceNode: z.string().optional(),
});

export function registerParseTaskLog(deps: ParseTaskLogDeps): Register {
  return (program) => {
    program
      .command("parse-task-log")
      .description("Summarise a Proxmox VE migration task log (text or the API's [{n,t}] JSON).")
      .argument("<file>", "the task log file, or - to read stdin")
      .option("--json", "print the full parsed report as JSON")
      .option("--upid <upid>", "the task's UPID (gives the source node and VM id)")
      .option("--source-node <node>", "the node the migration started on")
      .action(async (file: string, rawOptions: unknown, command: Command) => {
        const options = Options.parse(rawOptions);
        const text = await readInput(file, deps);
        const context: TaskLogContext = {};
        if (options.upid !== undefined) context.upid = options.upid;
        if (options.sourceNode !== undefined) context.sourceNode = options.sourceNode;
        const report = parseInput(text, context);
        const write = outputOf(command);
        write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatTaskLogSummary(report));
      });
  };
}

export const register: Register = registerParseTaskLog({ readStdin: readProcessStdin });

async function readInput(file: string, deps: ParseTaskLogDeps): Promise<string> {
  if (file === "-") return deps.readStdin();
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "no such file"
        : code === "EISDIR"
          ? "it is a directory"
          : code === "EACCES" || code === "EPERM"
            ? "permission denied"
            : (code ?? "read failed");
    throw new UserError(ErrorCodes.TaskLogUnreadable, `Cannot read task log "${file}": ${why}.`);
  }
}

function parseInput(text: string, context: TaskLogContext): MigrationTaskReport {
  const head = text.trimStart();
  if (head.startsWith("[") || head.startsWith("{")) {
    const json = safeJson(head);
    const api = json === undefined ? undefined : ApiLog.safeParse(json);
    if (api?.success) return parseTaskLogEntries(Array.isArray(api.data) ? api.data : api.data.data, context);
  }
  return parseTaskLogText(text, context);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function formatDurationMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h} h ${m} min ${s} s`;
  if (m > 0) return `${m} min ${s} s`;
  return `${s} s`;
}

const STATUS_TEXT: Record<MigrationTaskReport["status"], string> = {
  completed: "completed",
  failed: "failed",
  aborted: "aborted (nothing moved)",
  running: "running (no end of task in the log)",
};

export function formatTaskLogSummary(r: MigrationTaskReport): string {
  const rows: [string, string][] = [];
  const task = r.taskResult ? ` (TASK ${r.taskResult})` : "";
  rows.push(["Status", `${STATUS_TEXT[r.status]}${task}`]);
  if (r.taskKind === "hamigrate") rows.push(["Task", "HA migration request (hamigrate)"]);
  const who = r.guestType === "lxc" ? "CT" : "VM";
  if (r.vmid !== undefined || r.startedByHa) {
    rows.push([who, `${r.vmid ?? "?"}${r.startedByHa ? " (started by the HA resource agent)" : ""}`]);
  }
  if (r.sourceNode !== undefined || r.targetNode !== undefined) {
    const address = r.targetAddress ? ` (${r.targetAddress})` : "";
    rows.push(["Route", `${r.sourceNode ?? "?"} → ${r.targetNode ?? "?"}${address}`]);
  }
  if (r.startedAt !== undefined) rows.push(["Started", `${r.startedAt} (node-local time)`]);
  if (r.durationMs !== undefined) rows.push(["Duration", formatDurationMs(r.durationMs)]);
  if (r.downtimeMs !== undefined || r.downtimeLimitMs !== undefined) {
    const limit =
      r.downtimeLimitMs === undefined
        ? ""
        : r.autoIncreasedDowntimeMs === undefined
          ? ` (limit ${r.downtimeLimitMs} ms)`
          : ` (limit ${r.downtimeLimitMs} ms, auto-increased to ${r.autoIncreasedDowntimeMs} ms)`;
    rows.push([
      "PVE downtime",
      `${r.downtimeMs === undefined ? "not reported" : `${r.downtimeMs} ms`}${limit}`,
    ]);
  }
  if (r.transferredBytes !== undefined || r.totalBytes !== undefined) {
    const sent = r.transferredBytes === undefined ? "?" : renderBytes(r.transferredBytes);
    const of = r.totalBytes === undefined ? "" : ` of ${renderBytes(r.totalBytes)}`;
    rows.push(["VM state", `${sent} transferred${of}`]);
  }
  if (r.averageSpeedBytesPerSecond !== undefined) {
    rows.push(["Average speed", `${renderBytes(r.averageSpeedBytesPerSecond)}/s`]);
  }
  for (const m of r.diskMirrors) {
    const figures =
      m.transferredBytes !== undefined && m.totalBytes !== undefined
        ? `${renderBytes(m.transferredBytes)} of ${renderBytes(m.totalBytes)}${m.elapsedMs === undefined ? "" : ` in ${formatDurationMs(m.elapsedMs)}`}`
        : "started";
    const state = m.finished ? ", finished" : m.cancelled ? ", cancelled" : m.ready ? ", ready" : "";
    rows.push([`Disk ${m.drive}`, `${figures}${state}`]);
  }
  if (r.localDisks.length > 0) {
    rows.push([
      "Local disks",
      r.localDisks.map((d) => `${d.volid}${d.reference ? ` (${d.reference})` : ""}`).join(", "),
    ]);
  }
  const warnings = r.warningCount ?? r.warnings.length;
  if (warnings > 0) rows.push(["Warnings", String(warnings)]);
  if (r.error !== undefined) rows.push(["Error", r.error]);

  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  const pad = " ".repeat(width);
  return rows.map(([k, v]) => `${`${k}:`.padEnd(width)}${v.split("\n").join(`\n${pad}`)}\n`).join("");
}
