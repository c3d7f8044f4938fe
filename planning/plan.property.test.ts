import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MigrationPolicy } from "../config/schema.ts";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import type { ClusterData } from "./clusterData.ts";
import { buildClusterView, haSid } from "./clusterView.ts";
import { buildClusterData, type ClusterSpec } from "./fixtures/build.ts";
import { type PlanRequest, planEvacuation } from "./plan.ts";

const GiB = 1024 ** 3;
const STORAGES = ["ceph", "nfs", "local-lvm"];

/** true with probability pct/100, so rare cases stay rare and plans have moves to check. */
const chance = (pct: number) => fc.integer({ min: 0, max: 99 }).map((x) => x < pct);

const nodeArb = fc.record({
  memGiB: fc.integer({ min: 4, max: 128 }),
  usedPct: fc.integer({ min: 0, max: 95 }),
  online: chance(85),
  maintenance: chance(15),
  storages: fc.subarray(STORAGES, { minLength: 1 }),
});

const guestArb = fc.record({
  /** Half the guests on the source, the rest anywhere. */
  nodeIdx: fc.oneof(fc.constant(0), fc.nat()),
  memMiB: fc.oneof(fc.integer({ min: 256, max: 8 * 1024 }), fc.integer({ min: 256, max: 64 * 1024 })),
  status: fc.constantFrom("running", "running", "running", "stopped", "paused"),
  type: fc.constantFrom("qemu", "qemu", "qemu", "lxc"),
  storage: fc.constantFrom(...STORAGES),
  pinned: chance(10),
  ha: chance(40),
  hostpci: chance(10),
  template: chance(10),
});

const scenarioArb = fc
  .record({
    nodes: fc.array(nodeArb, { minLength: 2, maxLength: 6 }),
    guests: fc.array(guestArb, { maxLength: 30 }),
    negative: fc.array(fc.nat(), { maxLength: 4 }),
    positive: fc.array(fc.nat(), { maxLength: 3 }),
    strictNodes: fc.array(fc.nat(), { maxLength: 2 }),
    sourceIdx: fc.oneof(fc.constant(0), fc.constant(0), fc.nat()),
    targetIdx: fc.option(fc.nat(), { freq: 4 }),
    includeStopped: fc.boolean(),
    includeContainers: fc.boolean(),
    headroomGiB: fc.constantFrom(0, 1, 4),
    withLocalDisks: fc.boolean(),
    order: fc.constantFrom("smallest-first", "largest-first", "vmid"),
    spread: fc.constantFrom("most-free", "most-free-ratio"),
    seed: fc.integer(),
  })
  .map((s) => {
    const names = s.nodes.map((_, i) => `node${i + 1}`);
    const spec: ClusterSpec = {
      sharedStorages: ["ceph", "nfs"],
      localStorages: ["local-lvm"],
      nodes: s.nodes.map((n, i) => ({
        name: names[i] as string,
        memGiB: n.memGiB,
        usedGiB: (n.memGiB * n.usedPct) / 100,
        online: i === 0 ? true : n.online,
        maintenance: n.maintenance && i !== 0,
        storages: n.storages,
      })),
      guests: s.guests.map((g, i) => {
        const vmid = 100 + i;
        const type = g.type as "qemu" | "lxc";
        return {
          vmid,
          node: names[g.nodeIdx % names.length] as string,
          type,
          memMiB: g.memMiB,
          status: g.status as "running" | "stopped" | "paused",
          disks: { [type === "lxc" ? "rootfs" : "scsi0"]: `${g.storage}:vm-${vmid}-disk-0` },
          ...(g.pinned ? { tags: ["pinned"] } : {}),
          ...(g.ha ? { ha: "started" } : {}),
          ...(g.hostpci && type === "qemu" ? { extraConfig: { hostpci0: "0000:01:00.0" } } : {}),
          ...(g.template && g.status === "stopped" ? { template: true } : {}),
        };
      }),
    };
    const sids = spec.guests.map((g) => haSid(g.type ?? "qemu", g.vmid));
    const pick = (idx: number[]) =>
      [...new Set(idx.map((i) => sids[i % Math.max(1, sids.length)]))].filter(Boolean);
    spec.rules = [];
    if (sids.length > 0 && s.negative.length > 1)
      spec.rules.push({
        rule: "neg",
        type: "resource-affinity",
        affinity: "negative",
        resources: pick(s.negative).join(","),
      });
    if (sids.length > 0 && s.positive.length > 1)
      spec.rules.push({
        rule: "pos",
        type: "resource-affinity",
        affinity: "positive",
        resources: pick(s.positive).join(","),
      });
    if (sids.length > 0 && s.strictNodes.length > 0)
      spec.rules.push({
        rule: "strict",
        type: "node-affinity",
        strict: true,
        resources: pick(s.strictNodes).join(","),
        nodes: names.filter((_, i) => i % 2 === 1).join(","),
      });
    const source = names[s.sourceIdx % names.length] as string;
    const request: PlanRequest = {
      source,
      includeStopped: s.includeStopped,
      includeContainers: s.includeContainers,
      spread: s.spread as PlanRequest["spread"],
      ...(s.targetIdx === null ? {} : { target: names[s.targetIdx % names.length] as string }),
    };
    const policy = MigrationPolicy.parse({
      headroomBytes: s.headroomGiB * GiB,
      withLocalDisks: s.withLocalDisks,
      order: s.order,
    });
    return { spec, request, policy, seed: s.seed };
  });

/** Same facts, different order of everything PVE may return in any order. */
function shuffled(data: ClusterData, seed: number): ClusterData {
  let x = seed >>> 0 || 1;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  const shuffle = <T>(a: T[]) => {
    const b = [...a];
    for (let i = b.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [b[i], b[j]] = [b[j] as T, b[i] as T];
    }
    return b;
  };
  const reorder = <T>(r: Record<string, T>) => Object.fromEntries(shuffle(Object.entries(r)));
  return {
    ...data,
    resources: shuffle(data.resources),
    clusterStatus: shuffle(data.clusterStatus),
    nodeStatus: reorder(data.nodeStatus),
    guestConfigs: reorder(data.guestConfigs),
    preconditions: reorder(data.preconditions),
    haStatus: shuffle(data.haStatus),
    haRules: shuffle(data.haRules),
  };
}

function tryPlan(data: ClusterData, request: PlanRequest, policy: MigrationPolicy) {
  try {
    return planEvacuation(buildClusterView(data), request, policy);
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    expect([ErrorCodes.NothingToEvacuate, ErrorCodes.NodeOffline, ErrorCodes.InvalidInput]).toContain(
      (e as UserError).code,
    );
    return undefined;
  }
}

describe("planEvacuation invariants", () => {
  it("never overfills a target, never picks the source or an unusable node, accounts for every guest once", () => {
    fc.assert(
      fc.property(scenarioArb, ({ spec, request, policy }) => {
        const data = buildClusterData(spec);
        const view = buildClusterView(data);
        const plan = tryPlan(data, request, policy);
        if (!plan) return;

        const nodes = new Map(view.nodes.map((n) => [n.name, n]));
        const reserved = new Map<string, number>();
        for (const m of plan.moves) {
          const t = nodes.get(m.target);
          expect(m.target).not.toBe(request.source);
          expect(t?.online).toBe(true);
          expect(t?.quorate).toBe(true);
          expect(t?.maintenance).toBe(false);
          if (request.target !== undefined) expect(m.target).toBe(request.target);
          const guest = view.guests.find((g) => g.vmid === m.vmid);
          for (const s of guest?.storages ?? []) expect(t?.storages).toContain(s);
          reserved.set(m.target, (reserved.get(m.target) ?? 0) + (m.mode === "offline" ? 0 : m.memoryBytes));
        }
        for (const [node, bytes] of reserved) {
          const free = nodes.get(node)?.memoryFreeBytes ?? 0;
          expect(free - bytes).toBeGreaterThanOrEqual(policy.headroomBytes);
          expect(plan.targets.find((t) => t.node === node)?.memoryFreeAfterBytes).toBe(free - bytes);
        }

        const onSource = view.guests.filter((g) => g.node === request.source).map((g) => g.vmid);
        const seen = [...plan.moves, ...plan.blocked, ...plan.skipped].map((x) => x.vmid);
        expect([...seen].sort((a, b) => a - b)).toEqual(onSource);
        expect(plan.moves.map((m) => m.order)).toEqual(plan.moves.map((_, i) => i + 1));
        for (const b of plan.blocked) expect(b.reasons.length).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });

  it("keeps negative-affinity members apart after the plan", () => {
    fc.assert(
      fc.property(scenarioArb, ({ spec, request, policy }) => {
        const data = buildClusterData(spec);
        const view = buildClusterView(data);
        const plan = tryPlan(data, request, policy);
        if (!plan) return;
        const where = new Map(view.guests.map((g) => [haSid(g.type, g.vmid), g.node]));
        for (const m of plan.moves) where.set(haSid(m.type, m.vmid), m.target);
        for (const rule of view.rules) {
          if (rule.kind !== "resource-affinity" || rule.affinity !== "negative") continue;
          for (const m of plan.moves) {
            const sid = haSid(m.type, m.vmid);
            if (!rule.resources.includes(sid)) continue;
            const clash = rule.resources.filter((o) => o !== sid && where.get(o) === m.target);
            expect(clash).toEqual([]);
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it("is deterministic: the same facts in any order give the same plan", () => {
    fc.assert(
      fc.property(scenarioArb, ({ spec, request, policy, seed }) => {
        const data = buildClusterData(spec);
        const a = tryPlan(data, request, policy);
        const b = tryPlan(shuffled(data, seed), request, policy);
        expect(b).toEqual(a);
        expect(JSON.stringify(b)).toBe(JSON.stringify(a));
      }),
      { numRuns: 200 },
    );
  });
});
