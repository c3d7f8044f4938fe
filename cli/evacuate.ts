/**
 * `pve-evacuate evacuate NODE`: plan, ask (or --yes), enqueue the per-VM jobs, follow progress in the
 * terminal and print each result. The migrations themselves run in `pve-evacuate worker`.
 */
import { userInfo } from "node:os";
import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { z } from "zod";
import { createEventLog } from "../audit/eventLog.ts";
import { loadConfigFromProcess } from "../config/load.ts";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import { createRedis } from "../lib/redis.ts";
import type { Plan } from "../planning/plan.ts";
import { planForNode } from "../planning/planForNode.ts";
import type { PveClient } from "../proxmox/port.ts";
import type { Actor } from "../worker/jobData.ts";
import type { MigrationResult } from "../worker/migrateVm.ts";
import { createEvacuationQueue, type EvacuationQueue } from "../worker/queue.ts";
import { formatResult, progressBar, summarize } from "../worker/resultSummary.ts";
import { pveClientFromEnv } from "./connect.ts";
import { formatPlanText } from "./plan.ts";
import { errorOutputOf, outputOf, type Register } from "./program.ts";

const Options = z.object({
  yes: z.boolean().optional(),
  json: z.boolean().optional(),
  includeStopped: z.boolean().optional(),
  includeContainers: z.boolean().optional(),
  target: z.string().min(1).optional(),
  follow: z.boolean().default(true),
});

export interface EvacuateDeps {
  env?: NodeJS.ProcessEnv;
  /** Answers the confirmation question; default: the terminal, refused when it is not interactive. */
  confirm?: (question: string) => Promise<boolean>;
  connect?: () => PveClient & { close?: () => Promise<void> };
  prefix?: string;
  pollMs?: number;
}

async function askTerminal(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) {
    throw new UserError(
      ErrorCodes.InvalidInput,
      "Not asking for confirmation without a terminal.",
      "Pass --yes.",
    );
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

/** Polls the evacuation until every VM has a result; calls back on progress and on each new result. */
export async function followEvacuation(
  queue: EvacuationQueue,
  evacuationId: string,
  on: {
    progress?: (line: string) => void;
    result?: (result: MigrationResult) => void;
  },
  pollMs = 500,
): Promise<MigrationResult[]> {
  let seen = 0;
  let lastLine = "";
  for (;;) {
    const results = await queue.store.results(evacuationId);
    for (const r of results.slice(seen)) on.result?.(r);
    seen = results.length;
    const record = await queue.store.get(evacuationId);
    if (!record) throw new UserError(ErrorCodes.InvalidInput, `No evacuation ${evacuationId}.`);
    // A stopped or cancelled evacuation still reports every VM (skipped, cancelled), so wait for all.
    if (results.length >= record.total) return results;
    const [active] = await queue.queue.getJobs(["active"], 0, 0);
    if (active?.data.evacuationId === evacuationId) {
      const p = active.progress as
        | { transferredBytes?: number; totalBytes?: number; state?: string }
        | number;
      const fraction = typeof p === "object" && p.totalBytes ? (p.transferredBytes ?? 0) / p.totalBytes : 0;
      const line = `VM ${active.data.vmid} → ${active.data.target} (${active.data.order + 1}/${active.data.of}) ${active.data.step} ${progressBar(fraction)}`;
      if (line !== lastLine) on.progress?.(line);
      lastLine = line;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

export function registerEvacuate(deps: EvacuateDeps = {}): Register {
  return (program) => {
    program
      .command("evacuate")
      .description("Plan the evacuation of NODE, confirm, and live-migrate its VMs one at a time.")
      .argument("<node>", "the node going into maintenance")
      .option("--yes", "do not ask for confirmation")
      .option("--json", "print the plan and results as JSON")
      .option("--include-stopped", "also move stopped VMs (offline migration)")
      .option("--include-containers", "also move LXC containers (restart migration: they go down)")
      .option("--target <node>", "send every guest to this node")
      .option("--no-follow", "enqueue and return without waiting for the results")
      .action(async (node: string, raw: unknown, command: Command) => {
        const opts = Options.parse(raw);
        const out = outputOf(command);
        const err = errorOutputOf(command);
        const config = loadConfigFromProcess(deps.env);
        const pve = deps.connect
          ? deps.connect()
          : pveClientFromEnv({ ...(deps.env ? { env: deps.env } : {}) });
        const redis = createRedis(config.redisUrl);
        const prefix = deps.prefix ?? config.redisPrefix;
        const events = createEventLog({ redis, prefix });
        const queue = createEvacuationQueue({ redis, prefix, events });
        const actor: Actor = { kind: "cli", id: userInfo().username };
        try {
          const plan: Plan = await planForNode(
            pve,
            {
              source: node,
              ...(opts.includeStopped ? { includeStopped: true } : {}),
              ...(opts.includeContainers ? { includeContainers: true } : {}),
              ...(opts.target ? { target: opts.target } : {}),
            },
            config.migration,
          );
          await events.append({
            type: "evacuation.requested",
            actor,
            node,
            mode: "evacuate",
            source: node,
            options: { ...opts },
          });
          await events.append({ type: "plan.created", actor, node, plan });
          if (!opts.json) out(`${formatPlanText(plan)}\n`);
          if (plan.moves.length === 0) {
            throw new UserError(
              ErrorCodes.NothingToEvacuate,
              `Nothing on ${node} can be migrated (${plan.blocked.length} blocked, ${plan.skipped.length} left on purpose).`,
            );
          }
          const question = `Migrate ${plan.moves.length} guest(s) off ${node}, one at a time?`;
          const yes = opts.yes || (await (deps.confirm ?? askTerminal)(question));
          if (!yes) {
            out("Cancelled: nothing was queued.\n");
            process.exitCode = 1;
            return;
          }
          const record = await queue.enqueue({
            source: node,
            kind: "evacuate",
            moves: plan.moves,
            requestedBy: actor,
          });
          await events.append({ type: "evacuation.confirmed", actor, node, evacuationId: record.id });
          // Only a hint: managed Redis may refuse CLIENT LIST, and the jobs are queued either way.
          if ((await queue.queue.getWorkers().catch(() => undefined))?.length === 0) {
            err(`warning: no worker is connected; the jobs wait until 'pve-evacuate worker' runs.\n`);
          }
          if (!opts.json) out(`Queued evacuation ${record.id}: ${plan.moves.length} migration(s).\n`);
          if (!opts.follow) {
            if (opts.json) out(`${JSON.stringify({ evacuationId: record.id, plan }, null, 2)}\n`);
            return;
          }
          const results = await followEvacuation(
            queue,
            record.id,
            opts.json
              ? {}
              : {
                  progress: (line) => err(`${line}\n`),
                  result: (r) => out(`${formatResult(r)}\n`),
                },
            deps.pollMs,
          );
          const final = await queue.store.get(record.id);
          if (opts.json) {
            out(
              `${JSON.stringify({ evacuationId: record.id, status: final?.status, plan, results }, null, 2)}\n`,
            );
          } else {
            out(`Evacuation ${record.id} ${final?.status ?? "ended"}: ${summarize(results)}.\n`);
            if (final?.stopReason) out(`Stopped because ${final.stopReason}\n`);
          }
          if (results.some((r) => r.status !== "succeeded")) process.exitCode = 1;
        } finally {
          await queue.close();
          await redis.quit();
          await (pve as { close?: () => Promise<void> }).close?.();
        }
      });
  };
}

export const register: Register = registerEvacuate();
