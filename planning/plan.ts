/**
 * planEvacuation: which guest of the source node goes where, which cannot move and why, which are left
 * on purpose, and in what order. Pure and deterministic: same view, request and policy → same plan.
 *
 * Placement is decided largest-first (big guests are the hard ones to fit; placing them while every
 * target is still empty fits more), execution follows the policy's order (smallest first by default, so
 * an early failure costs least). Among targets that fit, HA node-affinity priority comes first, then the
 * spread rule, then the node name.
 */
import type { MigrationPolicy } from "../config/schema.ts";
import { renderBytes } from "../lib/bytes.ts";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import type { GuestType } from "../proxmox/schemas.ts";
import type { ClusterView, GuestView, NodeView } from "./clusterView.ts";
import { haSid } from "./clusterView.ts";
import {
  AffinityIndex,
  attachedLocalDisks,
  fitsMessage,
  guestBlockers,
  type MoveMode,
  missingStorages,
  nodeUnavailable,
  preconditionRefusal,
  reservedBytes,
} from "./constraints.ts";

export type { MoveMode } from "./constraints.ts";

/**
 * How to choose among targets that fit: `most-free` keeps the most bytes free on the chosen node after the
 * move; `most-free-ratio` the largest free fraction. On unequal nodes `most-free` pours everything into
 * the biggest node first; the ratio keeps utilisation even (bench/plan.ts: half the spread of
 * utilisation, receiving nodes 8-13 points less full, the same guests placed), hence the default.
 */
export type SpreadRule = "most-free" | "most-free-ratio";
export const DEFAULT_SPREAD: SpreadRule = "most-free-ratio";

export interface PlanRequest {
  source: string;
  includeStopped?: boolean;
  includeContainers?: boolean;
  /** Force every move onto this node (still checked). */
  target?: string;
  spread?: SpreadRule;
}

export interface PlannedMove {
  vmid: number;
  name: string;
  type: GuestType;
  source: string;
  target: string;
  memoryBytes: number;
  mode: MoveMode;
  /** 1-based position in execution order. */
  order: number;
  /** Live migration that copies local disks (PVE's with-local-disks). */
  withLocalDisks: boolean;
  /** Things the operator should know (downtime of a restart, HA hand-over, a lock …). */
  notes: string[];
}

export interface BlockedGuest {
  vmid: number;
  name: string;
  type: GuestType;
  reasons: string[];
}

export interface SkippedGuest {
  vmid: number;
  name: string;
  type: GuestType;
  reason: string;
}

export interface TargetSummary {
  node: string;
  memoryFreeBytes: number;
  memoryFreeAfterBytes: number;
  moves: number;
  /** Why the node takes nothing (offline, maintenance …); absent for usable nodes. */
  unavailable?: string;
}

export interface Plan {
  source: string;
  options: {
    includeStopped: boolean;
    includeContainers: boolean;
    target: string | null;
    headroomBytes: number;
    order: MigrationPolicy["order"];
    spread: SpreadRule;
    withLocalDisks: boolean;
  };
  moves: PlannedMove[];
  blocked: BlockedGuest[];
  skipped: SkippedGuest[];
  targets: TargetSummary[];
}

interface Candidate {
  guest: GuestView;
  sid: string;
  mode: MoveMode;
  reserve: number;
  /** Bytes the move transfers: its memory when running, plus local disks copied. */
  transferBytes: number;
  withLocalDisks: boolean;
  notes: string[];
  /** PVE's allowed nodes as a mask over the targets (1 = allowed), when PVE listed them. */
  allowed?: Uint8Array;
}

interface Bundle {
  members: Candidate[];
  reserve: number;
  transferBytes: number;
  firstVmid: number;
  /** Nodes where positive-affinity partners already run (the bundle must join them). */
  requiredNodes: Set<string>;
  requiredWhy: string;
}

/** Group key of memory rejections; their text is only built when a guest ends up blocked. */
const MEMORY = "\u0000memory";

interface Rejection {
  group: string;
  node: string;
  availableBytes?: number;
}

interface Target {
  index: number;
  node: NodeView;
  storages: ReadonlySet<string>;
  unavailable: string | undefined;
  /** Memory claimed by moves planned onto it so far. */
  reserved: number;
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function listNodes(items: Rejection[], max = 6): string {
  const shown = items
    .slice(0, max)
    .map((r) =>
      r.availableBytes === undefined
        ? r.node
        : `${r.node} (${renderBytes(Math.max(0, r.availableBytes))} free)`,
    );
  return items.length > max ? `${shown.join(", ")} and ${items.length - max} more` : shown.join(", ");
}

function groupRejections(
  rejections: Rejection[],
  forced: boolean,
  needBytes: number,
  headroom: number,
): string[] {
  if (rejections.length === 0) return ["no other node in the cluster"];
  const groups = new Map<string, Rejection[]>();
  for (const r of rejections) {
    const list = groups.get(r.group);
    if (list) list.push(r);
    else groups.set(r.group, [r]);
  }
  const prefix = forced ? "forced target " : "";
  return [...groups.entries()].map(([group, items]) => {
    const text = group === MEMORY ? `not enough memory (${fitsMessage(needBytes, headroom)})` : group;
    return `${prefix}${listNodes(items)}: ${text}`;
  });
}

function classify(
  g: GuestView,
  req: PlanRequest,
  pinned: readonly string[],
): { skip: string } | { mode: MoveMode } | { block: string } {
  const tag = g.tags.find((t) => pinned.includes(t));
  if (tag !== undefined) return { skip: `tagged '${tag}': stays on ${g.node} and goes down with it` };
  if (g.type === "lxc" && !req.includeContainers)
    return {
      skip: "container: moving it means a restart migration (it goes down); pass --include-containers to move it",
    };
  if (g.template)
    return req.includeStopped
      ? { mode: "offline" }
      : { skip: "template: pass --include-stopped to move it offline" };
  if (g.status === "running") return { mode: g.type === "lxc" ? "restart" : "live" };
  if (g.status === "stopped")
    return req.includeStopped
      ? { mode: "offline" }
      : { skip: "stopped: pass --include-stopped to move it offline" };
  return { block: `status '${g.status}': neither running nor stopped; resume or stop it, then plan again` };
}

function candidateFor(g: GuestView, mode: MoveMode): Candidate {
  const notes: string[] = [];
  let transferBytes = mode === "offline" ? 0 : g.memoryBytes;
  let withLocalDisks = false;
  if (mode === "restart")
    notes.push(`restart migration: the container shuts down on ${g.node} and starts again on the target`);
  if (mode === "offline") notes.push("offline: moved stopped, stays stopped on the target");
  const disks = attachedLocalDisks(g);
  if (disks.length > 0) {
    const bytes = disks.reduce((s, d) => s + (d.sizeBytes ?? 0), 0);
    transferBytes += bytes;
    if (mode === "live") withLocalDisks = true;
    notes.push(
      `copies local disk ${disks.map((d) => d.volid).join(", ")}${bytes > 0 ? ` (${renderBytes(bytes)})` : ""}: takes longer`,
    );
  }
  const liveMapped = g.mappedResources.filter((m) => m.liveMigration).map((m) => m.id);
  if (mode === "live" && liveMapped.length > 0)
    notes.push(`live-migrates mapped device ${liveMapped.join(", ")} (PVE marks this experimental)`);
  if (g.lock !== undefined)
    notes.push(`locked ('${g.lock}') when planned: the pre-check refuses it while the lock stays`);
  if (g.ha) notes.push(`HA resource ${g.ha.sid}: PVE hands the migration to the HA manager`);
  return {
    guest: g,
    sid: haSid(g.type, g.vmid),
    mode,
    reserve: reservedBytes(g.memoryBytes, mode),
    transferBytes,
    withLocalDisks,
    notes,
  };
}

/** Positive resource affinity: guests PVE moves together go to one target together. */
function bundle(candidates: Candidate[], aff: AffinityIndex, source: string): Bundle[] {
  const bySid = new Map(candidates.map((c) => [c.sid, c]));
  const parent = new Map<string, string>(candidates.map((c) => [c.sid, c.sid]));
  const find = (s: string): string => {
    let root = s;
    while (parent.get(root) !== root) root = parent.get(root) as string;
    parent.set(s, root);
    return root;
  };
  const required = new Map<string, { nodes: Set<string>; why: string[] }>();
  for (const c of candidates) {
    if (!c.guest.ha) continue;
    for (const { rule, partners } of aff.positivePartners(c.sid)) {
      for (const p of partners) {
        if (bySid.has(p)) {
          const a = find(c.sid);
          const b = find(p);
          if (a === b) continue;
          const [lo, hi] = a < b ? [a, b] : [b, a];
          parent.set(hi, lo);
          continue;
        }
        const where = aff.where(p);
        if (where === undefined) continue;
        if (where === source) {
          c.notes.push(
            `HA rule '${rule.rule}' (positive affinity) makes HA move ${p} along, although it is not planned`,
          );
          continue;
        }
        const entry = required.get(c.sid) ?? { nodes: new Set<string>(), why: [] };
        entry.nodes.add(where);
        entry.why.push(`${p} on ${where} (rule '${rule.rule}')`);
        required.set(c.sid, entry);
      }
    }
  }
  const groups = new Map<string, Candidate[]>();
  for (const c of candidates) {
    const root = find(c.sid);
    const list = groups.get(root);
    if (list) list.push(c);
    else groups.set(root, [c]);
  }
  return [...groups.values()].map((members) => {
    members.sort((a, b) => a.guest.vmid - b.guest.vmid);
    const requiredNodes = new Set<string>();
    const why: string[] = [];
    for (const m of members) {
      const r = required.get(m.sid);
      if (!r) continue;
      for (const n of r.nodes) requiredNodes.add(n);
      why.push(...r.why);
    }
    if (members.length > 1) {
      for (const m of members) {
        const others = members.filter((o) => o !== m).map((o) => o.sid);
        m.notes.push(`moves to the same node as ${others.join(", ")} (HA positive affinity)`);
      }
    }
    return {
      members,
      reserve: members.reduce((s, m) => s + m.reserve, 0),
      transferBytes: members.reduce((s, m) => s + m.transferBytes, 0),
      firstVmid: (members[0] as Candidate).guest.vmid,
      requiredNodes,
      requiredWhy: why.join(", "),
    };
  });
}

function orderBundles(bundles: Bundle[], order: MigrationPolicy["order"]): Bundle[] {
  const sorted = [...bundles];
  sorted.sort((a, b) => {
    if (order === "smallest-first" && a.transferBytes !== b.transferBytes)
      return a.transferBytes - b.transferBytes;
    if (order === "largest-first" && a.transferBytes !== b.transferBytes)
      return b.transferBytes - a.transferBytes;
    return a.firstVmid - b.firstVmid;
  });
  return sorted;
}

/** Positive rules bind the bundle together; a negative rule between two of its members makes that impossible. */
function contradictoryRules(b: Bundle, aff: AffinityIndex): string | undefined {
  for (const x of b.members) {
    for (const y of b.members) {
      if (x.sid >= y.sid) continue;
      const rule = aff.negativeRuleBetween(x.sid, y.sid);
      if (rule)
        return `HA rules contradict each other: positive affinity binds ${x.sid} and ${y.sid} together, negative rule '${rule.rule}' keeps them apart; fix the rules (ha-manager rules)`;
    }
  }
  return undefined;
}

/** Why one guest may not go to this target (PVE, storage, HA rules), or undefined. Cheap checks first. */
function memberRefusal(m: Candidate, t: Target, aff: AffinityIndex): string | undefined {
  const name = t.node.name;
  if (m.allowed !== undefined && m.allowed[t.index] !== 1)
    return `PVE refuses: ${preconditionRefusal(m.guest, name) ?? "not in PVE's allowed nodes"}`;
  for (const s of m.guest.storages) {
    if (!t.storages.has(s))
      return `storage ${missingStorages(m.guest, t.node, t.storages).join(", ")} not available there`;
  }
  return aff.strictRefusal(m.sid, name) ?? aff.negativeConflict(m.sid, name);
}

export function planEvacuation(view: ClusterView, request: PlanRequest, policy: MigrationPolicy): Plan {
  const known = view.nodes.map((n) => n.name);
  const source = view.nodes.find((n) => n.name === request.source);
  if (!source)
    throw new UserError(
      ErrorCodes.UnknownNode,
      `Unknown node '${request.source}'. Known nodes: ${known.join(", ") || "(none)"}.`,
    );
  if (!source.online)
    throw new UserError(
      ErrorCodes.NodeOffline,
      `Node '${source.name}' is offline: its guests cannot be migrated from it.`,
      "Bring it back online, or let HA recover its HA guests.",
    );
  let forced: NodeView | undefined;
  if (request.target !== undefined) {
    forced = view.nodes.find((n) => n.name === request.target);
    if (!forced)
      throw new UserError(
        ErrorCodes.UnknownNode,
        `Unknown target node '${request.target}'. Known nodes: ${known.join(", ")}.`,
      );
    if (forced.name === source.name)
      throw new UserError(ErrorCodes.InvalidInput, `--target ${forced.name} is the node being evacuated.`);
  }
  const onSource = view.guests.filter((g) => g.node === source.name);
  if (onSource.length === 0)
    throw new UserError(
      ErrorCodes.NothingToEvacuate,
      `Node '${source.name}' has no guests: nothing to evacuate.`,
    );

  const spread = request.spread ?? DEFAULT_SPREAD;
  const pinned = policy.pinnedTags.map((t) => t.toLowerCase());
  const skipped: SkippedGuest[] = [];
  const blocked: BlockedGuest[] = [];
  const candidates: Candidate[] = [];
  for (const g of onSource) {
    const c = classify(g, request, pinned);
    if ("skip" in c) {
      skipped.push({ vmid: g.vmid, name: g.name, type: g.type, reason: c.skip });
      continue;
    }
    if ("block" in c) {
      blocked.push({ vmid: g.vmid, name: g.name, type: g.type, reasons: [c.block] });
      continue;
    }
    const reasons = guestBlockers(g, c.mode, policy);
    if (reasons.length > 0) {
      blocked.push({ vmid: g.vmid, name: g.name, type: g.type, reasons });
      continue;
    }
    candidates.push(candidateFor(g, c.mode));
  }

  const aff = new AffinityIndex(view);
  const targets: Target[] = (forced ? [forced] : view.nodes.filter((n) => n.name !== source.name)).map(
    (node, index) => ({
      index,
      node,
      storages: new Set(node.storages),
      unavailable: nodeUnavailable(node),
      reserved: 0,
    }),
  );
  const targetIndex = new Map(targets.map((t) => [t.node.name, t.index]));
  for (const c of candidates) {
    const allowed = c.guest.precondition?.allowedNodes;
    if (allowed === undefined) continue;
    c.allowed = new Uint8Array(targets.length);
    for (const n of allowed) {
      const i = targetIndex.get(n);
      if (i !== undefined) c.allowed[i] = 1;
    }
  }
  const placed = new Map<number, string>();
  const headroom = policy.headroomBytes;

  /** Scores target t for bundle b, or records why not (only when asked: blocked guests are the rare case). */
  const evaluate = (b: Bundle, t: Target, why?: Rejection[]): { pref: number; score: number } | undefined => {
    const name = t.node.name;
    if (t.unavailable) {
      why?.push({ group: t.unavailable, node: name });
      return undefined;
    }
    if (b.requiredNodes.size > 0 && !b.requiredNodes.has(name)) {
      why?.push({ group: `HA positive affinity keeps it with ${b.requiredWhy}`, node: name });
      return undefined;
    }
    let pref = Number.POSITIVE_INFINITY;
    for (const m of b.members) {
      const refusal = memberRefusal(m, t, aff);
      if (refusal !== undefined) {
        why?.push({ group: refusal, node: name });
        return undefined;
      }
      const p = aff.preference(m.sid, name);
      if (p !== undefined) pref = Math.min(pref, p);
    }
    const available = t.node.memoryFreeBytes - t.reserved;
    const after = available - b.reserve;
    if (after < headroom) {
      why?.push({ group: MEMORY, node: name, availableBytes: available });
      return undefined;
    }
    const score =
      spread === "most-free-ratio"
        ? t.node.memoryTotalBytes > 0
          ? after / t.node.memoryTotalBytes
          : Number.NEGATIVE_INFINITY
        : after;
    return { pref: pref === Number.POSITIVE_INFINITY ? 0 : pref, score };
  };

  const placementOrder = bundle(candidates, aff, source.name).sort(
    (a, b) => b.reserve - a.reserve || b.transferBytes - a.transferBytes || a.firstVmid - b.firstVmid,
  );
  for (const b of placementOrder) {
    const contradiction = contradictoryRules(b, aff);
    if (contradiction !== undefined) {
      for (const m of b.members)
        blocked.push({
          vmid: m.guest.vmid,
          name: m.guest.name,
          type: m.guest.type,
          reasons: [contradiction],
        });
      continue;
    }
    let best: { target: Target; pref: number; score: number } | undefined;
    for (const t of targets) {
      const e = evaluate(b, t);
      // Targets are visited in name order, so keeping the first on ties makes the name the last tie-break.
      if (e && (!best || e.pref > best.pref || (e.pref === best.pref && e.score > best.score)))
        best = { target: t, ...e };
    }
    if (!best) {
      const rejections: Rejection[] = [];
      for (const t of targets) evaluate(b, t, rejections);
      const reasons = groupRejections(rejections, forced !== undefined, b.reserve, headroom);
      for (const m of b.members) {
        const extra =
          b.members.length > 1
            ? [
                `must move together with ${b.members
                  .filter((o) => o !== m)
                  .map((o) => o.sid)
                  .join(", ")} (HA positive affinity)`,
              ]
            : [];
        blocked.push({
          vmid: m.guest.vmid,
          name: m.guest.name,
          type: m.guest.type,
          reasons: [...reasons, ...extra],
        });
      }
      continue;
    }
    best.target.reserved += b.reserve;
    for (const m of b.members) {
      placed.set(m.guest.vmid, best.target.node.name);
      aff.place(m.sid, best.target.node.name);
    }
  }

  const usable = (n: string) => targets.some((t) => t.node.name === n && t.unavailable === undefined);
  const moves: PlannedMove[] = [];
  const placedBundles = placementOrder.filter((b) => placed.has(b.firstVmid));
  for (const b of orderBundles(placedBundles, policy.order)) {
    for (const m of b.members) {
      const target = placed.get(m.guest.vmid) as string;
      const notes = [...m.notes];
      const elsewhere = aff.preferredElsewhere(m.sid, target, usable);
      if (elsewhere)
        notes.push(
          `HA node-affinity rule '${elsewhere.rule}' prefers other nodes: HA may move it back later`,
        );
      const carried = m.guest.dependentHaResources.filter((s) => !b.members.some((o) => o.sid === s));
      if (carried.length > 0) notes.push(`PVE moves ${carried.join(", ")} along (HA positive affinity)`);
      moves.push({
        vmid: m.guest.vmid,
        name: m.guest.name,
        type: m.guest.type,
        source: source.name,
        target,
        memoryBytes: m.guest.memoryBytes,
        mode: m.mode,
        order: moves.length + 1,
        withLocalDisks: m.withLocalDisks,
        notes: [...new Set(notes)],
      });
    }
  }

  const reservedOn = (node: string) => {
    const i = targetIndex.get(node);
    return i === undefined ? 0 : (targets[i] as Target).reserved;
  };
  blocked.sort((a, b) => a.vmid - b.vmid);
  skipped.sort((a, b) => a.vmid - b.vmid);
  const counts = new Map<string, number>();
  for (const m of moves) counts.set(m.target, (counts.get(m.target) ?? 0) + 1);
  const summaries: TargetSummary[] = view.nodes
    .filter((n) => n.name !== source.name)
    .sort((a, b) => byName(a.name, b.name))
    .map((n) => {
      const s: TargetSummary = {
        node: n.name,
        memoryFreeBytes: n.memoryFreeBytes,
        memoryFreeAfterBytes: n.memoryFreeBytes - reservedOn(n.name),
        moves: counts.get(n.name) ?? 0,
      };
      const why = forced && n.name !== forced.name ? "not the forced target" : nodeUnavailable(n);
      if (why !== undefined) s.unavailable = why;
      return s;
    });

  return {
    source: source.name,
    options: {
      includeStopped: request.includeStopped === true,
      includeContainers: request.includeContainers === true,
      target: forced?.name ?? null,
      headroomBytes: headroom,
      order: policy.order,
      spread,
      withLocalDisks: policy.withLocalDisks,
    },
    moves,
    blocked,
    skipped,
    targets: summaries,
  };
}
