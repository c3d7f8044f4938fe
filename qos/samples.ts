/**
 * The probe samples file: what a probe recorded, in a form the metrics, the CLI and the chart share.
 * Times are milliseconds on one monotonic clock; only differences between them carry meaning.
 */
import { z } from "zod";
import { ErrorCodes, UserError } from "../lib/errors.ts";

export const ProbeMethod = z.enum(["tcp", "udp", "icmp"]);
export type ProbeMethod = z.infer<typeof ProbeMethod>;

export const ProbeSample = z.object({
  /** Slot number on the probe's schedule; a slot the prober could not serve leaves a gap. */
  seq: z.number().int().nonnegative(),
  /** When the probe left, ms on the recording's monotonic clock. */
  sentAtMs: z.number().finite(),
  /** Round-trip time, or null when no reply came before the probe's deadline. */
  rttMs: z.number().finite().nonnegative().nullable(),
});
export type ProbeSample = z.infer<typeof ProbeSample>;

export const MigrationWindows = z
  .object({
    migrationStartMs: z.number().finite(),
    migrationEndMs: z.number().finite(),
  })
  .refine((w) => w.migrationEndMs >= w.migrationStartMs, {
    message: "must not be before migrationStartMs",
    path: ["migrationEndMs"],
  });
export type MigrationWindows = z.infer<typeof MigrationWindows>;

/** What is known about the migration itself (from the task log), for the migration grades. */
export const MigrationFacts = z.object({
  durationMs: z.number().finite().nonnegative().optional(),
  transferredBytes: z.number().finite().nonnegative().optional(),
  memoryBytes: z.number().finite().positive().optional(),
});
export type MigrationFacts = z.infer<typeof MigrationFacts>;

export const SamplesFile = z
  .object({
    intervalMs: z.number().finite().positive(),
    samples: z.array(ProbeSample),
    windows: MigrationWindows.optional(),
    method: ProbeMethod.optional(),
    /** Bytes on the wire per probe and per reply (IP packet size), for the stream's throughput. */
    probeBytes: z.number().int().positive().optional(),
    migration: MigrationFacts.optional(),
    /** Named instants from the prober (a saved ProbeRecording has them); windows come from them if absent. */
    marks: z.array(z.object({ name: z.string(), atMs: z.number().finite() })).optional(),
  })
  .superRefine((file, ctx) => {
    const seen = new Map<number, number>();
    file.samples.forEach((s, i) => {
      const first = seen.get(s.seq);
      if (first !== undefined) {
        ctx.addIssue({
          code: "custom",
          message: `duplicate seq ${s.seq} (also samples[${first}])`,
          path: ["samples", i, "seq"],
        });
      } else seen.set(s.seq, i);
    });
  });
export type SamplesFile = z.infer<typeof SamplesFile>;

/** IP packet sizes of one probe, used when the file does not say. */
export const DEFAULT_PROBE_BYTES: Record<ProbeMethod, number> = {
  // 20 B IP + 8 B ICMP + ping's default 56 B payload.
  icmp: 84,
  // 20 B IP + 8 B UDP + our 16 B payload.
  udp: 44,
  // SYN with the usual options (MSS, SACK, timestamps, window scale): 20 B IP + 40 B TCP.
  tcp: 60,
};

/** `samples[3].rttMs`: the path a person can find in their file. */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out === "" ? "(top level)" : out;
}

/** Validates a parsed samples document; the error names every bad field. */
export function parseSamplesFile(data: unknown, source = "samples file"): SamplesFile {
  const result = SamplesFile.safeParse(data);
  if (result.success) return withWindowsFromMarks(result.data);
  const issues = result.error.issues.slice(0, 10).map((i) => `  - ${formatIssuePath(i.path)}: ${i.message}`);
  const more = result.error.issues.length > 10 ? `\n  (and ${result.error.issues.length - 10} more)` : "";
  throw new UserError(
    ErrorCodes.InvalidInput,
    `Invalid ${source}:\n${issues.join("\n")}${more}\nExpected { intervalMs, samples: [{ seq, sentAtMs, rttMs | null }], windows?: { migrationStartMs, migrationEndMs } }.`,
  );
}

export const MIGRATION_START_MARK = "migrationStart";
export const MIGRATION_END_MARK = "migrationEnd";

/** Windows from the last "migrationStart" / "migrationEnd" marks, when the file has no windows. */
export function withWindowsFromMarks(file: SamplesFile): SamplesFile {
  if (file.windows || !file.marks) return file;
  const at = (n: string) => file.marks?.findLast((m) => m.name === n)?.atMs;
  const start = at(MIGRATION_START_MARK);
  const end = at(MIGRATION_END_MARK);
  if (start === undefined || end === undefined || end < start) return file;
  return { ...file, windows: { migrationStartMs: start, migrationEndMs: end } };
}
