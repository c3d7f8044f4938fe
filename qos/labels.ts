/** Words shown to people for grades, metrics and windows: English, and Indonesian as in the original study. */
import type { Grade, GradedMetric } from "./grading.ts";
import type { WindowName } from "./metrics.ts";

export type Language = "en" | "id";

export interface Labels {
  grades: Record<Grade, string>;
  metrics: Record<GradedMetric, string>;
  windows: Record<WindowName, string>;
  chart: { time: string; rtt: string; lost: string; migration: string; outage: string; reply: string };
}

export const LABELS: Record<Language, Labels> = {
  en: {
    grades: { veryGood: "very good", good: "good", fair: "fair", bad: "bad" },
    metrics: {
      delay: "delay",
      jitter: "jitter",
      loss: "packet loss",
      throughput: "throughput",
      migrationTime: "migration time",
      downtime: "downtime",
      data: "data transferred",
    },
    windows: { all: "all", baseline: "before", migration: "during migration", after: "after" },
    chart: {
      time: "time (s)",
      rtt: "RTT (ms)",
      lost: "lost probe",
      migration: "migration",
      outage: "longest outage",
      reply: "reply",
    },
  },
  id: {
    grades: { veryGood: "sangat bagus", good: "bagus", fair: "sedang", bad: "jelek" },
    metrics: {
      delay: "delay",
      jitter: "jitter",
      loss: "packet loss",
      throughput: "throughput",
      migrationTime: "waktu migrasi",
      downtime: "downtime",
      data: "data yang ditransfer",
    },
    windows: { all: "semua", baseline: "sebelum", migration: "selama migrasi", after: "sesudah" },
    chart: {
      time: "waktu (s)",
      rtt: "RTT (ms)",
      lost: "probe hilang",
      migration: "migrasi",
      outage: "putus terlama",
      reply: "balasan",
    },
  },
};

export function gradeLabel(grade: Grade, language: Language = "en"): string {
  return LABELS[language].grades[grade];
}
