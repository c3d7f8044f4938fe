/**
 * `pve-evacuate evacuation status|cancel`: what runs and what waits; drop what has not started and,
 * only when asked, abort the running migration by stopping its PVE task (the VM stays on its node).
 */
import { userInfo } from "node:os";
import type { Command } from "commander";
import { z } from "zod";
import { createEventLog } from "../audit/eventLog.ts";
import { loadConfigFromProcess } from "../config/load.ts";
import { createRedis } from "../lib/redis.ts";
import { createEvacuationQueue, type EvacuationStatusView } from "../worker/queue.ts";
import { pveClientFromEnv } from "./connect.ts";
import { outputOf, type Register } from "./program.ts";

export function formatStatus(views: readonly EvacuationStatusView[]): string {
  if (views.length === 0) return "No evacuation is running.";
  return views
    .map((v) => {
      const r = v.record;
      const lines = [
        `Evacuation ${r.id} of ${r.source} (${v.done.length}/${r.total} done, by ${r.requestedBy.name ?? r.requestedBy.id})`,
      ];
      if (v.running) {
        lines.push(
          `  running: VM ${v.running.vmid} (${v.running.name}) → ${v.running.target}, ${v.running.step}${v.running.upid ? ` ${v.running.upid}` : ""}`,
        );
      }
      for (const w of v.waiting) lines.push(`  waiting: VM ${w.vmid} (${w.name}) → ${w.target}`);
      for (const d of v.done) lines.push(`  done:    VM ${d.vmid} ${d.status}`);
      return lines.join("\n");
    })
    .join("\n\n");
}

const CancelOptions = z.object({ abortRunning: z.boolean().optional(), json: z.boolean().optional() });

async function withQueue<T>(fn: (q: ReturnType<typeof createEvacuationQueue>) => Promise<T>): Promise<T> {
  const config = loadConfigFromProcess();
  const redis = createRedis(config.redisUrl);
  const queue = createEvacuationQueue({
    redis,
    prefix: config.redisPrefix,
    events: createEventLog({ redis, prefix: config.redisPrefix }),
  });
  try {
    return await fn(queue);
  } finally {
    await queue.close();
    await redis.quit();
  }
}

export const register: Register = (program) => {
  const evacuation = program.command("evacuation").description("Show or cancel running evacuations.");
  evacuation
    .command("status")
    .description("What runs now and what waits.")
    .option("--json", "print JSON")
    .action(async (raw: unknown, command: Command) => {
      const { json } = z.object({ json: z.boolean().optional() }).parse(raw);
      const views = await withQueue((q) => q.status());
      outputOf(command)(json ? `${JSON.stringify(views, null, 2)}\n` : `${formatStatus(views)}\n`);
    });
  evacuation
    .command("cancel")
    .description(
      "Drop the waiting migrations of the running evacuation (the running one finishes unless --abort-running).",
    )
    .argument("[id]", "evacuation id (default: the newest running one)")
    .option("--abort-running", "also stop the running migration's PVE task; the VM stays where it was")
    .option("--json", "print JSON")
    .action(async (id: string | undefined, raw: unknown, command: Command) => {
      const opts = CancelOptions.parse(raw);
      const pve = pveClientFromEnv();
      try {
        const outcome = await withQueue((q) =>
          q.cancel({
            ...(id ? { evacuationId: id } : {}),
            abortRunning: opts.abortRunning ?? false,
            by: { kind: "cli", id: userInfo().username },
            pve,
          }),
        );
        const out = outputOf(command);
        if (opts.json) out(`${JSON.stringify(outcome, null, 2)}\n`);
        else {
          out(
            `Cancelled evacuation ${outcome.evacuationId}: ${outcome.removed.length} waiting migration(s) dropped.\n`,
          );
          if (outcome.aborted)
            out(
              `Stopped the PVE task of VM ${outcome.aborted.vmid} (${outcome.aborted.upid}); it stays on its node.\n`,
            );
          if (outcome.leftRunning)
            out(
              `VM ${outcome.leftRunning.vmid} is still migrating and will finish (use --abort-running to stop it).\n`,
            );
        }
      } finally {
        await pve.close();
      }
    });
};
