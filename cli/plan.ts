/**
 * `pve-evacuate plan NODE`: what an evacuation of NODE would do (moves in order, blocked guests with
 * reasons, guests left on purpose, target memory before/after), from the configured cluster (or the lab
 * it points at) or a snapshot file. Read-only: it asks PVE, it changes nothing.
 */
import type { Command } from "commander";
import { z } from "zod";
import { loadConfigFromProcess } from "../config/load.ts";
import type { MigrationPolicy } from "../config/schema.ts";
import { renderBytes } from "../lib/bytes.ts";
import { gatherClusterData } from "../planning/clusterData.ts";
import { buildClusterView } from "../planning/clusterView.ts";
import { type Plan, type PlanRequest, planEvacuation } from "../planning/plan.ts";
import type { PveClient } from "../proxmox/port.ts";
import { addClusterOption, type ConnectOptions, pveClientFromEnv } from "./connect.ts";
import { outputOf, type Register } from "./program.ts";

/** A client plus, optionally, where its data comes from and how to let it go. */
export type PlanClient = PveClient & { readonly source?: string; close?: () => Promise<void> };

export interface PlanCommandDeps {
  /** Opens the data source; default: the configured cluster, or the snapshot given by --cluster. */
  connect?: (options: ConnectOptions) => PlanClient | Promise<PlanClient>;
  /** Environment the configuration (migration policy, PVE connection) is read from. */
  env?: NodeJS.ProcessEnv;
}

const Options = z.object({
  json: z.boolean().optional(),
  cluster: z.string().min(1).optional(),
  includeStopped: z.boolean().optional(),
  includeContainers: z.boolean().optional(),
  target: z.string().min(1).optional(),
});

/** Pads columns so a plan reads as a table in a terminal; the last column is left ragged. */
function table(header: string[], rows: string[][], indent = "  "): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    `${indent}${cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd()}`;
  return [line(header), ...rows.map(line)];
}

export function formatPlanText(plan: Plan, source?: string): string {
  const out: string[] = [];
  const o = plan.options;
  const flags = [
    o.includeStopped ? "stopped included" : undefined,
    o.includeContainers ? "containers included" : undefined,
    o.target ? `forced target ${o.target}` : undefined,
    `headroom ${renderBytes(o.headroomBytes)}`,
    `order ${o.order}`,
  ].filter((f) => f !== undefined);
  out.push(`Evacuation plan for ${plan.source} (${flags.join(", ")})`);
  if (source) out.push(`Data: ${source}`);
  out.push("");

  if (plan.moves.length === 0) out.push("Moves: none");
  else {
    out.push(`Moves (${plan.moves.length}), in this order:`);
    const rows = plan.moves.map((m) => [
      String(m.order),
      String(m.vmid),
      m.name,
      m.type,
      renderBytes(m.memoryBytes),
      `${m.source} → ${m.target}`,
      m.mode + (m.withLocalDisks ? " +local disks" : ""),
    ]);
    const lines = table(["#", "VMID", "NAME", "TYPE", "MEMORY", "MOVE", "MODE"], rows);
    out.push(lines[0] as string);
    plan.moves.forEach((m, i) => {
      out.push(lines[i + 1] as string);
      for (const note of m.notes) out.push(`      - ${note}`);
    });
  }
  out.push("");

  if (plan.blocked.length > 0) {
    out.push(`Blocked (${plan.blocked.length}): cannot move until the reason is fixed`);
    for (const b of plan.blocked) {
      out.push(`  ${b.vmid} ${b.name} (${b.type})`);
      for (const r of b.reasons) out.push(`      - ${r}`);
    }
    out.push("");
  }
  if (plan.skipped.length > 0) {
    out.push(`Skipped (${plan.skipped.length}): left on ${plan.source}`);
    for (const s of plan.skipped) out.push(`  ${s.vmid} ${s.name} (${s.type}): ${s.reason}`);
    out.push("");
  }

  out.push("Targets:");
  out.push(
    ...table(
      ["NODE", "FREE NOW", "FREE AFTER", "MOVES", "NOTE"],
      plan.targets.map((t) => [
        t.node,
        renderBytes(t.memoryFreeBytes),
        renderBytes(t.memoryFreeAfterBytes),
        String(t.moves),
        t.unavailable ?? "",
      ]),
    ),
  );
  if (plan.targets.length === 0) out.push("  (no other node)");
  return `${out.join("\n")}\n`;
}

/** The policy from the configuration; only the migration section matters here. */
function policyFrom(env: NodeJS.ProcessEnv | undefined): MigrationPolicy {
  return loadConfigFromProcess(env).migration;
}

export function registerPlan(deps: PlanCommandDeps = {}): Register {
  const connect = deps.connect ?? ((options: ConnectOptions) => pveClientFromEnv(options));
  return (program) => {
    const command = program
      .command("plan")
      .description(
        "Show how NODE would be evacuated: which guest goes where and in what order, what cannot move and why.",
      )
      .argument("<node>", "the node to evacuate")
      .option("--json", "print the plan as JSON")
      .option("--include-stopped", "also move stopped VMs and templates (offline migration)")
      .option("--include-containers", "also move containers (restart migration: they go down)")
      .option("--target <node>", "send every guest to this node (still checked)");
    addClusterOption(command).action(async (node: string, rawOptions: unknown, cmd: Command) => {
      const options = Options.parse(rawOptions);
      const write = outputOf(cmd);
      const policy = policyFrom(deps.env);
      const connectOptions: ConnectOptions = {
        ...(options.cluster === undefined ? {} : { cluster: options.cluster }),
        ...(deps.env === undefined ? {} : { env: deps.env }),
      };
      const client = await connect(connectOptions);
      let plan: Plan;
      try {
        const data = await gatherClusterData(client, { guestsOn: node });
        const request: PlanRequest = {
          source: node,
          includeStopped: options.includeStopped === true,
          includeContainers: options.includeContainers === true,
          ...(options.target === undefined ? {} : { target: options.target }),
        };
        plan = planEvacuation(buildClusterView(data), request, policy);
      } finally {
        await client.close?.();
      }
      write(options.json ? `${JSON.stringify(plan, null, 2)}\n` : formatPlanText(plan, client.source));
    });
  };
}

export const register: Register = registerPlan();
