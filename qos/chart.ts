/**
 * Timeline chart of a probe recording: RTT over time, lost probes as red bands, the migration window
 * shaded, the longest outage outlined. vega-lite compiles the spec, vega renders SVG (no canvas
 * needed), resvg turns it into a PNG for Discord. Text needs a system font (Debian: fonts-dejavu-core);
 * without one the chart still renders, without text.
 */
import { Resvg } from "@resvg/resvg-js";
import type { TopLevelSpec } from "vega-lite";
import { LABELS, type Language } from "./labels.ts";
import { longestOutage } from "./metrics.ts";
import type { MigrationWindows, ProbeSample } from "./samples.ts";

export interface TimelineInput {
  intervalMs: number;
  samples: readonly ProbeSample[];
}

export interface TimelineOptions {
  width?: number;
  height?: number;
  language?: Language;
  title?: string;
  /** Above this many replies, keep the highest RTT per time bucket (peaks are what matter). */
  maxPoints?: number;
  /** Output pixels per chart pixel. */
  scale?: number;
}

interface Band {
  t0: number;
  t1: number;
  kind: string;
}

/** Runs of consecutive lost probes (send order, no reply between) as time bands, seconds from `origin`. */
export function lostBands(samples: readonly ProbeSample[], intervalMs: number, origin: number): Band[] {
  const sorted = [...samples].sort((a, b) => a.sentAtMs - b.sentAtMs);
  const bands: Band[] = [];
  let open: Band | undefined;
  for (const s of sorted) {
    if (s.rttMs !== null) {
      open = undefined;
      continue;
    }
    const t1 = (s.sentAtMs + intervalMs - origin) / 1000;
    if (open) open.t1 = t1;
    else {
      open = { t0: (s.sentAtMs - origin) / 1000, t1, kind: "" };
      bands.push(open);
    }
  }
  return bands;
}

function downsample(points: { t: number; rtt: number }[], maxPoints: number) {
  if (points.length <= maxPoints) return points;
  const t0 = points[0]?.t ?? 0;
  const span = (points[points.length - 1]?.t ?? t0) - t0 || 1;
  const buckets = new Map<number, { t: number; rtt: number }>();
  for (const p of points) {
    const b = Math.min(maxPoints - 1, Math.floor(((p.t - t0) / span) * maxPoints));
    const cur = buckets.get(b);
    if (!cur || p.rtt > cur.rtt) buckets.set(b, p);
  }
  return [...buckets.values()].sort((a, b) => a.t - b.t);
}

/** The vega-lite spec (pure; exported so it can be inspected or rendered elsewhere). */
export function timelineSpec(
  recording: TimelineInput,
  windows: MigrationWindows | undefined,
  options: TimelineOptions = {},
): TopLevelSpec {
  const words = LABELS[options.language ?? "en"].chart;
  const samples = recording.samples;
  const origin = samples.reduce((m, s) => Math.min(m, s.sentAtMs), Number.POSITIVE_INFINITY);
  const o = Number.isFinite(origin) ? origin : 0;
  const replies = downsample(
    samples
      .filter((s) => s.rttMs !== null)
      .map((s) => ({ t: (s.sentAtMs - o) / 1000, rtt: s.rttMs as number }))
      .sort((a, b) => a.t - b.t),
    options.maxPoints ?? 4000,
  );
  const bands: Band[] = lostBands(samples, recording.intervalMs, o).map((b) => ({ ...b, kind: words.lost }));
  if (windows) {
    bands.unshift({
      t0: (windows.migrationStartMs - o) / 1000,
      t1: (windows.migrationEndMs - o) / 1000,
      kind: words.migration,
    });
  }
  const outage = longestOutage(samples, recording.intervalMs).outage;
  const outages = outage
    ? [{ t0: (outage.fromMs - o) / 1000, t1: (outage.toMs - o) / 1000, kind: words.outage }]
    : [];
  const kinds = [words.reply, words.migration, words.lost, words.outage];
  const color = {
    field: "kind",
    type: "nominal" as const,
    title: null,
    scale: { domain: kinds, range: ["#1f77b4", "#9ecae1", "#d62728", "#ff7f0e"] },
    legend: { orient: "top" as const },
  };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    width: options.width ?? 800,
    height: options.height ?? 300,
    background: "white",
    padding: 8,
    ...(options.title ? { title: options.title } : {}),
    config: { font: "DejaVu Sans", view: { stroke: "#ccc" } },
    encoding: { x: { type: "quantitative", title: words.time } },
    layer: [
      {
        data: { values: bands.filter((b) => b.kind === words.migration) },
        mark: { type: "rect", opacity: 0.45 },
        encoding: { x: { field: "t0", type: "quantitative" }, x2: { field: "t1" }, color },
      },
      {
        // The stroke keeps a single lost probe (a 10 ms band) at least a pixel wide.
        data: { values: bands.filter((b) => b.kind === words.lost) },
        mark: { type: "rect", opacity: 0.6, stroke: "#d62728", strokeWidth: 1 },
        encoding: { x: { field: "t0", type: "quantitative" }, x2: { field: "t1" }, color },
      },
      {
        data: { values: outages },
        mark: { type: "rect", fillOpacity: 0, stroke: "#ff7f0e", strokeWidth: 2, strokeDash: [4, 2] },
        encoding: { x: { field: "t0", type: "quantitative" }, x2: { field: "t1" }, color },
      },
      {
        data: { values: replies.map((r) => ({ ...r, kind: words.reply })) },
        mark: { type: "point", filled: true, size: 8, opacity: 0.8 },
        encoding: {
          x: { field: "t", type: "quantitative", title: words.time, scale: { nice: false, zero: true } },
          y: { field: "rtt", type: "quantitative", title: words.rtt },
          color,
        },
      },
    ],
  };
}

/**
 * vega and vega-lite load on first use: vega-lite patches `Set.prototype.toJSON` when imported, which
 * breaks discord.js if it is imported later in the same process.
 */
async function loadVega() {
  const [vega, vegaLite] = await Promise.all([import("vega"), import("vega-lite")]);
  return { vega, compile: vegaLite.compile };
}

export async function renderTimelineSvg(
  recording: TimelineInput,
  windows: MigrationWindows | undefined,
  options: TimelineOptions = {},
): Promise<string> {
  const { vega, compile } = await loadVega();
  // vega-lite's warnings are about spec details already reviewed; keep them off the bot's stdout.
  const { spec } = compile(timelineSpec(recording, windows, options), { logger: vega.logger(vega.Error) });
  const view = new vega.View(vega.parse(spec), { renderer: "none", logLevel: vega.Error });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export async function renderTimelinePng(
  recording: TimelineInput,
  windows: MigrationWindows | undefined,
  options: TimelineOptions = {},
): Promise<Buffer> {
  const svg = await renderTimelineSvg(recording, windows, options);
  const resvg = new Resvg(svg, {
    background: "white",
    fitTo: { mode: "zoom", value: options.scale ?? 1.5 },
    font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" },
  });
  return resvg.render().asPng();
}
