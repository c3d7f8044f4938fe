import { describe, expect, it } from "vitest";
import { lostBands, renderTimelinePng, renderTimelineSvg, timelineSpec } from "./chart.ts";
import type { ProbeSample } from "./samples.ts";

const samples: ProbeSample[] = Array.from({ length: 200 }, (_, seq) => ({
  seq,
  sentAtMs: 1000 + seq * 10,
  rttMs: seq >= 80 && seq < 95 ? null : 0.5 + (seq % 7) / 10,
}));
const windows = { migrationStartMs: 1500, migrationEndMs: 2500 };

describe("timeline chart", () => {
  it("marks runs of lost probes as bands in seconds from the first probe", () => {
    expect(lostBands(samples, 10, 1000)).toEqual([{ t0: 0.8, t1: 0.95, kind: "" }]);
  });

  it("downsamples long recordings keeping the peaks", () => {
    const spec = timelineSpec({ intervalMs: 10, samples }, windows, { maxPoints: 20 }) as unknown as {
      layer: { data: { values: { rtt?: number }[] } }[];
    };
    const points = spec.layer[3]?.data.values ?? [];
    expect(points.length).toBeLessThanOrEqual(20);
    expect(Math.max(...points.map((p) => p.rtt ?? 0))).toBeCloseTo(1.1, 9);
  });

  it("renders an SVG with the labels of the chosen language", async () => {
    const svg = await renderTimelineSvg({ intervalMs: 10, samples }, windows, { language: "id" });
    expect(svg).toContain("<svg");
    expect(svg).toContain("probe hilang");
    expect(svg).toContain("migrasi");
  });

  it("renders a PNG", async () => {
    const png = await renderTimelinePng({ intervalMs: 10, samples }, windows, { width: 400, height: 150 });
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    // IHDR width and height (1.5× zoom of the chart plus axes and legend).
    expect(png.readUInt32BE(16)).toBeGreaterThan(600);
    expect(png.readUInt32BE(20)).toBeGreaterThan(225);
  });
});
