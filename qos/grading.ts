/**
 * Grades a figure as very good / good / fair / bad against an editable table.
 *
 * Defaults (all editable through GradingTables; sources disagree on the exact bands):
 * - delay (mean RTT, ms), TIPHON: < 150 very good, < 300 good, < 450 fair, else bad.
 * - jitter (mean |ΔRTT|, ms), TIPHON: 0 very good, ≤ 75 good, ≤ 125 fair, else bad.
 * - loss (%), TIPHON: < 3 very good, < 15 good, < 25 fair, else bad (the table's 0-2 / 3-14 / 15-24 /
 *   ≥ 25 read with the gaps between integers closed).
 * - throughput (% of a reference), TIPHON's 100 / 75 / 50 / < 25 read as band tops:
 *   ≥ 75 very good, ≥ 50 good, ≥ 25 fair, else bad.
 * - migration time (ms): < 10 s very good, < 30 s good, ≤ 60 s fair, else bad.
 * - downtime (client-observed, ms): < 100 very good, < 300 good, < 1000 fair, else bad
 *   (interactive traffic notices ~100 ms; TCP sessions survive a second; beyond that users see it).
 * - data (bytes transferred / VM memory): ≤ 1.1× very good (one pass plus a little), ≤ 1.5× good,
 *   ≤ 2.5× fair, else bad (memory dirtied faster than it is copied).
 */
import { z } from "zod";

export const GRADES = ["veryGood", "good", "fair", "bad"] as const;
export type Grade = (typeof GRADES)[number];

export const Limit = z.object({ value: z.number().finite(), inclusive: z.boolean() });
export type Limit = z.infer<typeof Limit>;

export const GradeTable = z
  .object({
    /** "lower": small values are good (delay); "higher": large values are good (throughput). */
    better: z.enum(["lower", "higher"]),
    /** Limits of very good, good and fair, in that order; past the last one is bad. */
    limits: z.tuple([Limit, Limit, Limit]),
  })
  .refine(
    (t) => {
      const [a, b, c] = t.limits.map((l) => l.value) as [number, number, number];
      return t.better === "lower" ? a <= b && b <= c : a >= b && b >= c;
    },
    {
      message: "limits must run from very good to fair (ascending for lower-is-better, descending otherwise)",
    },
  );
export type GradeTable = z.infer<typeof GradeTable>;

export const GRADED_METRICS = [
  "delay",
  "jitter",
  "loss",
  "throughput",
  "migrationTime",
  "downtime",
  "data",
] as const;
export type GradedMetric = (typeof GRADED_METRICS)[number];

export type GradingTables = Record<GradedMetric, GradeTable>;

const lt = (value: number): Limit => ({ value, inclusive: false });
const le = (value: number): Limit => ({ value, inclusive: true });
const ge = (value: number): Limit => ({ value, inclusive: true });

export const DEFAULT_GRADING: GradingTables = {
  delay: { better: "lower", limits: [lt(150), lt(300), lt(450)] },
  jitter: { better: "lower", limits: [le(0), le(75), le(125)] },
  loss: { better: "lower", limits: [lt(3), lt(15), lt(25)] },
  throughput: { better: "higher", limits: [ge(75), ge(50), ge(25)] },
  migrationTime: { better: "lower", limits: [lt(10_000), lt(30_000), le(60_000)] },
  downtime: { better: "lower", limits: [lt(100), lt(300), lt(1000)] },
  data: { better: "lower", limits: [le(1.1), le(1.5), le(2.5)] },
};

/** Partial overrides, e.g. from a JSON file: `{ "downtime": { "better": "lower", "limits": [...] } }`. */
export const GradingOverrides = z.object(
  Object.fromEntries(GRADED_METRICS.map((m) => [m, GradeTable.optional()])) as Record<
    GradedMetric,
    z.ZodOptional<typeof GradeTable>
  >,
);
export type GradingOverrides = z.infer<typeof GradingOverrides>;

export function withOverrides(
  overrides: GradingOverrides,
  base: GradingTables = DEFAULT_GRADING,
): GradingTables {
  const out = { ...base };
  for (const m of GRADED_METRICS) {
    const t = overrides[m];
    if (t) out[m] = t;
  }
  return out;
}

function within(value: number, limit: Limit, better: "lower" | "higher"): boolean {
  if (better === "lower") return limit.inclusive ? value <= limit.value : value < limit.value;
  return limit.inclusive ? value >= limit.value : value > limit.value;
}

export function grade(value: number, table: GradeTable): Grade {
  for (let i = 0; i < 3; i++) {
    if (within(value, table.limits[i] as Limit, table.better)) return GRADES[i] as Grade;
  }
  return "bad";
}
