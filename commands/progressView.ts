/**
 * Gathers what a progress card shows for one evacuation: the record, the results so far, the running
 * job with its transfer progress, the jobs still waiting. Reads Redis only (store and BullMQ).
 */
import { z } from "zod";
import type { EvacuationQueue } from "../worker/queue.ts";
import type { ProgressItem, ProgressView } from "./cards.ts";

const JobProgress = z.looseObject({
  transferredBytes: z.number().optional(),
  totalBytes: z.number().optional(),
});

export async function loadProgressView(
  queue: EvacuationQueue,
  evacuationId: string,
): Promise<ProgressView | undefined> {
  const record = await queue.store.get(evacuationId);
  if (!record) return undefined;
  const results = await queue.store.results(evacuationId);
  const jobs =
    results.length >= record.total
      ? []
      : (await queue.queue.getJobs(["active", "waiting", "delayed", "prioritized"], 0, 1000, true)).filter(
          (j) => j?.data?.evacuationId === evacuationId,
        );
  const items: ProgressItem[] = record.vmids.map((vmid) => {
    const result = results.find((r) => r.vmid === vmid);
    if (result)
      return { vmid, name: result.name, target: result.target, state: "done", result: result.status };
    const job = jobs.find((j) => j.data.vmid === vmid);
    if (!job) return { vmid, name: String(vmid), target: "?", state: "waiting" };
    const base = { vmid, name: job.data.name, target: job.data.target };
    const step = job.data.step;
    if (step === "queued") return { ...base, state: "waiting" };
    const p = JobProgress.safeParse(job.progress);
    const fraction =
      p.success && p.data.totalBytes
        ? Math.min(1, (p.data.transferredBytes ?? 0) / p.data.totalBytes)
        : undefined;
    return { ...base, state: "running", step, ...(fraction !== undefined ? { fraction } : {}) };
  });
  return {
    evacuationId,
    kind: record.kind,
    source: record.source,
    status: record.status,
    total: record.total,
    requestedBy: record.requestedBy.name ?? record.requestedBy.id,
    ...(record.stopReason ? { stopReason: record.stopReason } : {}),
    items,
  };
}
