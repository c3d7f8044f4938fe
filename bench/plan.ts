/**
 * Planning benchmark: time to build the cluster view and plan an evacuation as the cluster grows
 * (goal: 5,000 VMs over 100 nodes under 100 ms), and the quality of the two spread rules on tight,
 * unequal clusters (what justifies the default).
 */
import { MigrationPolicy } from "../config/schema.ts";
import type { ClusterData } from "../planning/clusterData.ts";
import { buildClusterView } from "../planning/clusterView.ts";
import { syntheticCluster } from "../planning/fixtures/synthetic.ts";
import { type Plan, planEvacuation, type SpreadRule } from "../planning/plan.ts";

const GiB = 1024 ** 3;
const SOURCE = "node1";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Runs fn until ~budgetMs or maxRuns, after a warm-up; median and max of the timed runs (monotonic clock). */
function time(
  fn: () => void,
  budgetMs = 1500,
  maxRuns = 50,
): { medianMs: number; maxMs: number; runs: number } {
  fn();
  fn();
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < maxRuns && (samples.length < 5 || performance.now() - start < budgetMs)) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  return { medianMs: round(median(samples)), maxMs: round(Math.max(...samples)), runs: samples.length };
}

function timePlan(data: ClusterData, policy: MigrationPolicy) {
  let plan: Plan | undefined;
  const view = buildClusterView(data);
  const viewOnly = time(() => {
    buildClusterView(data);
  });
  const planOnly = time(() => {
    plan = planEvacuation(view, { source: SOURCE }, policy);
  });
  const total = time(() => {
    plan = planEvacuation(buildClusterView(data), { source: SOURCE }, policy);
  });
  const p = plan as Plan;
  return {
    viewMs: viewOnly.medianMs,
    planMs: planOnly.medianMs,
    totalMs: total.medianMs,
    totalMaxMs: total.maxMs,
    runs: total.runs,
    sourceGuests: p.moves.length + p.blocked.length + p.skipped.length,
    moves: p.moves.length,
    blocked: p.blocked.length,
  };
}

/** How well a spread rule uses unequal, tight clusters; averaged over seeds. */
function spreadQuality(
  rule: SpreadRule,
  seeds: number,
  utilisation: number,
  sourceShare: number,
  policy: MigrationPolicy,
) {
  let memBlocked = 0;
  let placedGiB = 0;
  let maxUtil = 0;
  let maxReceivingUtil = 0;
  let minFreeGiB = 0;
  let sdUtil = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const data = syntheticCluster({
      nodes: 12,
      vms: 480,
      seed,
      utilisation,
      sourceShare,
      detailsOnlyOn: SOURCE,
    });
    const view = buildClusterView(data);
    const plan = planEvacuation(view, { source: SOURCE, spread: rule }, policy);
    memBlocked += plan.blocked.filter((b) => b.reasons.some((r) => r.includes("not enough memory"))).length;
    placedGiB += plan.moves.reduce((s, m) => s + m.memoryBytes, 0) / GiB;
    const totals = new Map(view.nodes.map((n) => [n.name, n.memoryTotalBytes]));
    const usable = plan.targets.filter((t) => t.unavailable === undefined);
    const util = (t: (typeof usable)[number]) => 1 - t.memoryFreeAfterBytes / (totals.get(t.node) ?? 1);
    const utils = usable.map(util);
    const mean = utils.reduce((s, u) => s + u, 0) / utils.length;
    maxUtil += Math.max(...utils);
    maxReceivingUtil += Math.max(0, ...usable.filter((t) => t.moves > 0).map(util));
    sdUtil += Math.sqrt(utils.reduce((s, u) => s + (u - mean) ** 2, 0) / utils.length);
    minFreeGiB += Math.min(...usable.map((t) => t.memoryFreeAfterBytes)) / GiB;
  }
  return {
    blockedForMemoryPerPlan: round(memBlocked / seeds),
    placedGiBPerPlan: round(placedGiB / seeds, 1),
    utilisationStdDevPct: round((100 * sdUtil) / seeds, 1),
    maxTargetUtilisationPct: round((100 * maxUtil) / seeds, 1),
    maxReceivingTargetUtilisationPct: round((100 * maxReceivingUtil) / seeds, 1),
    smallestFreeAfterGiB: round(minFreeGiB / seeds, 1),
  };
}

function compareSpread(seeds: number, utilisation: number, sourceShare: number, policy: MigrationPolicy) {
  return {
    scenario: `${seeds} seeds, 12 unequal nodes (64-512 GiB), 480 VMs, ${Math.round(utilisation * 100)}% used, node1 holds ~${Math.round(sourceShare * 100)}% of the VMs`,
    "most-free": spreadQuality("most-free", seeds, utilisation, sourceShare, policy),
    "most-free-ratio": spreadQuality("most-free-ratio", seeds, utilisation, sourceShare, policy),
  };
}

export default async function planBenchmark(): Promise<Record<string, unknown>> {
  const policy = MigrationPolicy.parse({});

  const growth: Record<string, unknown>[] = [];
  for (const [vms, nodes] of [
    [500, 10],
    [1000, 20],
    [2000, 40],
    [5000, 100],
    [10000, 200],
    [20000, 400],
  ] as const) {
    const data = syntheticCluster({ nodes, vms, seed: 7, detailsOnlyOn: SOURCE });
    growth.push({ vms, nodes, ...timePlan(data, policy) });
  }

  const headline = growth.find((g) => g.vms === 5000) as Record<string, unknown>;
  // A lopsided node holding 20% of the cluster: planning work is per source guest × node.
  const heavySource = timePlan(
    syntheticCluster({ nodes: 100, vms: 5000, seed: 7, sourceShare: 0.2, detailsOnlyOn: SOURCE }),
    policy,
  );
  // Every guest's config and precondition in the data (e.g. a full snapshot): the view does more.
  const fullData = timePlan(syntheticCluster({ nodes: 100, vms: 5000, seed: 7 }), policy);

  const seeds = 40;
  return {
    goal: "5,000 VMs over 100 nodes: view + plan under 100 ms",
    headline5000x100: headline,
    heavySource5000x100: heavySource,
    allConfigs5000x100: fullData,
    growth,
    spreadRules: [
      compareSpread(seeds, 0.6, 0.12, policy),
      compareSpread(seeds, 0.8, 0.12, policy),
      compareSpread(seeds, 0.9, 0.2, policy),
    ],
  };
}
