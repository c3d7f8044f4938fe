import { describe, expect, it } from "vitest";
import { DEFAULT_GRADING, GRADES, GradeTable, GradingOverrides, grade, withOverrides } from "./grading.ts";
import { gradeLabel, LABELS } from "./labels.ts";

const cases: [keyof typeof DEFAULT_GRADING, number, string][] = [
  ["delay", 149.9, "veryGood"],
  ["delay", 150, "good"],
  ["delay", 299.9, "good"],
  ["delay", 300, "fair"],
  ["delay", 449.9, "fair"],
  ["delay", 450, "bad"],
  ["jitter", 0, "veryGood"],
  ["jitter", 0.01, "good"],
  ["jitter", 75, "good"],
  ["jitter", 75.01, "fair"],
  ["jitter", 125, "fair"],
  ["jitter", 125.01, "bad"],
  ["loss", 0, "veryGood"],
  ["loss", 2.99, "veryGood"],
  ["loss", 3, "good"],
  ["loss", 14.99, "good"],
  ["loss", 15, "fair"],
  ["loss", 24.99, "fair"],
  ["loss", 25, "bad"],
  ["throughput", 100, "veryGood"],
  ["throughput", 75, "veryGood"],
  ["throughput", 74.9, "good"],
  ["throughput", 50, "good"],
  ["throughput", 49.9, "fair"],
  ["throughput", 25, "fair"],
  ["throughput", 24.9, "bad"],
  ["migrationTime", 9_999, "veryGood"],
  ["migrationTime", 10_000, "good"],
  ["migrationTime", 30_000, "fair"],
  ["migrationTime", 60_000, "fair"],
  ["migrationTime", 60_001, "bad"],
  ["downtime", 99.9, "veryGood"],
  ["downtime", 100, "good"],
  ["downtime", 300, "fair"],
  ["downtime", 999.9, "fair"],
  ["downtime", 1000, "bad"],
  ["data", 1.1, "veryGood"],
  ["data", 1.11, "good"],
  ["data", 1.5, "good"],
  ["data", 2.5, "fair"],
  ["data", 2.51, "bad"],
];

describe("default grading tables", () => {
  it.each(cases)("%s %d → %s", (metric, value, expected) => {
    expect(grade(value, DEFAULT_GRADING[metric])).toBe(expected);
  });

  it("every default table is valid by its own schema", () => {
    for (const t of Object.values(DEFAULT_GRADING)) expect(GradeTable.safeParse(t).success).toBe(true);
  });
});

describe("overrides", () => {
  it("replace one table and keep the others", () => {
    const overrides = GradingOverrides.parse({
      downtime: {
        better: "lower",
        limits: [
          { value: 50, inclusive: false },
          { value: 100, inclusive: false },
          { value: 200, inclusive: false },
        ],
      },
    });
    const tables = withOverrides(overrides);
    expect(grade(120, tables.downtime)).toBe("fair");
    expect(tables.delay).toBe(DEFAULT_GRADING.delay);
  });

  it("refuse limits out of order", () => {
    const r = GradeTable.safeParse({
      better: "lower",
      limits: [
        { value: 300, inclusive: false },
        { value: 150, inclusive: false },
        { value: 450, inclusive: false },
      ],
    });
    expect(r.success).toBe(false);
  });
});

describe("labels", () => {
  it("English and Indonesian words for every grade", () => {
    expect(GRADES.map((g) => gradeLabel(g))).toEqual(["very good", "good", "fair", "bad"]);
    expect(GRADES.map((g) => gradeLabel(g, "id"))).toEqual(["sangat bagus", "bagus", "sedang", "jelek"]);
  });
  it("both languages name the same metrics and windows", () => {
    expect(Object.keys(LABELS.id.metrics)).toEqual(Object.keys(LABELS.en.metrics));
    expect(Object.keys(LABELS.id.windows)).toEqual(Object.keys(LABELS.en.windows));
  });
});
