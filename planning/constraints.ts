/**
 * The rules a move must satisfy, shared by the planner (stale data, many candidates) and the pre-checks
 * (fresh data, one target), so both refuse for the same reasons with the same words.
 */
import type { MigrationPolicy } from "../config/schema.ts";
import { renderBytes } from "../lib/bytes.ts";
import type {
  ClusterView,
  GuestView,
  NodeAffinityRule,
  NodeView,
  ResourceAffinityRule,
} from "./clusterView.ts";
import { haSid, pveReasons } from "./clusterView.ts";

export type MoveMode = "live" | "offline" | "restart";

/** HA manager node states in which the CRM will not place anything on the node. */
const HA_UNUSABLE_NODE_STATES = new Set(["fence", "unknown", "gone"]);
/** HA service states in which a migration request is refused or makes things worse. */
const HA_BLOCKING_SERVICE_STATES = new Set(["error", "fence", "recovery"]);

/** Why a node cannot take any guest right now, or undefined. */
export function nodeUnavailable(node: NodeView): string | undefined {
  if (!node.online) return "offline";
  if (!node.quorate) return "not in a quorate cluster partition";
  if (node.maintenance) return `in maintenance (${node.maintenanceReason ?? "HA"})`;
  if (node.haState !== undefined && HA_UNUSABLE_NODE_STATES.has(node.haState))
    return `HA manager reports node state '${node.haState}'`;
  return undefined;
}

/** Memory a move claims on its target: a stopped guest arrives stopped and claims none. */
export function reservedBytes(memoryBytes: number, mode: MoveMode): number {
  return mode === "offline" ? 0 : memoryBytes;
}

function isCloudInit(volid: string): boolean {
  return /vm-\d+-cloudinit/.test(volid);
}

/** Local disks a live migration would have to copy (PVE's `with-local-disks`). */
export function attachedLocalDisks(guest: GuestView) {
  return guest.localDisks.filter((d) => !d.cdrom && !d.unused);
}

/** Reasons inherent to the guest (not to any target) that stop this move; empty when it can move. */
export function guestBlockers(guest: GuestView, mode: MoveMode, policy: MigrationPolicy): string[] {
  const reasons: string[] = [];
  if (guest.localResources.length > 0)
    reasons.push(
      `local resource ${guest.localResources.join(", ")} ties it to ${guest.node}: remove the passthrough, or map the device on every node (Datacenter → Resource Mappings)`,
    );
  if (mode === "live") {
    const notLive = guest.mappedResources.filter((m) => !m.liveMigration).map((m) => m.id);
    if (notLive.length > 0)
      reasons.push(
        `mapped device ${notLive.join(", ")} cannot be live-migrated: shut the VM down and plan with --include-stopped`,
      );
  }
  const cdroms = guest.localDisks.filter((d) => d.cdrom && !isCloudInit(d.volid)).map((d) => d.volid);
  if (cdroms.length > 0)
    reasons.push(`local CD/DVD image ${cdroms.join(", ")}: eject it or keep ISO images on shared storage`);
  if (mode === "live" && !policy.withLocalDisks) {
    const disks = attachedLocalDisks(guest);
    if (disks.length > 0)
      reasons.push(
        `local disk ${disks
          .map((d) => (d.sizeBytes === undefined ? d.volid : `${d.volid} (${renderBytes(d.sizeBytes)})`))
          .join(
            ", ",
          )} on non-shared storage: allow copying it with MIGRATION_WITH_LOCAL_DISKS=true (slower), or move it to shared storage`,
      );
  }
  if (guest.ha?.state !== undefined && HA_BLOCKING_SERVICE_STATES.has(guest.ha.state))
    reasons.push(
      `HA resource ${guest.ha.sid} is in state '${guest.ha.state}': clear it (ha-manager set ${guest.ha.sid} --state disabled, then started) first`,
    );
  return reasons;
}

/** PVE's own verdict from the migrate precondition, or undefined when PVE allows the node or did not say. */
export function preconditionRefusal(guest: GuestView, node: string): string | undefined {
  const allowed = guest.precondition?.allowedNodes;
  if (allowed === undefined || allowed.includes(node)) return undefined;
  const reasons = guest.precondition ? pveReasons(guest.precondition, node) : [];
  return reasons.length > 0 ? reasons.join("; ") : "not in PVE's allowed nodes";
}

export function missingStorages(
  guest: GuestView,
  node: NodeView,
  nodeStorages?: ReadonlySet<string>,
): string[] {
  const have = nodeStorages ?? new Set(node.storages);
  return guest.storages.filter((s) => !have.has(s));
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/**
 * HA affinity rules indexed by resource, plus where each HA resource is (or is planned to be), so the
 * planner can ask "may vm:101 go to node3 now?" in O(rules of vm:101).
 */
export class AffinityIndex {
  private readonly nodeRules = new Map<string, NodeAffinityRule[]>();
  private readonly resourceRules = new Map<string, ResourceAffinityRule[]>();
  private readonly location = new Map<string, string>();

  constructor(view: ClusterView) {
    for (const rule of view.rules) {
      for (const sid of rule.resources) {
        if (rule.kind === "node-affinity") push(this.nodeRules, sid, rule);
        else push(this.resourceRules, sid, rule);
      }
    }
    for (const g of view.guests) this.location.set(haSid(g.type, g.vmid), g.node);
  }

  /** Records a planned move so later decisions see the guest where it will be. */
  place(sid: string, node: string): void {
    this.location.set(sid, node);
  }

  where(sid: string): string | undefined {
    return this.location.get(sid);
  }

  /** Nodes outside a strict node-affinity rule are forbidden; a reason per violated rule. */
  strictRefusal(sid: string, node: string): string | undefined {
    for (const rule of this.nodeRules.get(sid) ?? []) {
      if (rule.strict && !rule.nodes.some((n) => n.node === node))
        return `strict HA node-affinity rule '${rule.rule}' allows only ${rule.nodes.map((n) => n.node).join(", ")}`;
    }
    return undefined;
  }

  /**
   * Preference from node-affinity rules: the node's priority in the rule, lower than any listed node
   * when unlisted, undefined when no rule speaks about this resource.
   */
  preference(sid: string, node: string): number | undefined {
    let best: number | undefined;
    for (const rule of this.nodeRules.get(sid) ?? []) {
      const entry = rule.nodes.find((n) => n.node === node);
      const p = entry ? entry.priority : Number.NEGATIVE_INFINITY;
      best = best === undefined ? p : Math.min(best, p);
    }
    return best;
  }

  /** The node-affinity rule that prefers other nodes over `node`, for a note to the operator. */
  preferredElsewhere(
    sid: string,
    node: string,
    usable: (n: string) => boolean,
  ): NodeAffinityRule | undefined {
    for (const rule of this.nodeRules.get(sid) ?? []) {
      const usableNodes = rule.nodes.filter((n) => usable(n.node));
      if (usableNodes.length === 0) continue;
      const top = Math.max(...usableNodes.map((n) => n.priority));
      const mine = rule.nodes.find((n) => n.node === node)?.priority;
      if (mine === undefined || mine < top) return rule;
    }
    return undefined;
  }

  /** Negative resource affinity: another member already is (or is planned to be) on `node`. */
  negativeConflict(sid: string, node: string): string | undefined {
    for (const rule of this.resourceRules.get(sid) ?? []) {
      if (rule.affinity !== "negative") continue;
      const there = rule.resources.filter((other) => other !== sid && this.location.get(other) === node);
      if (there.length > 0)
        return `HA resource-affinity rule '${rule.rule}' keeps it apart from ${there.join(", ")} on that node`;
    }
    return undefined;
  }

  /** A negative rule holding both resources (contradicts a positive rule that binds them together). */
  negativeRuleBetween(a: string, b: string): ResourceAffinityRule | undefined {
    return (this.resourceRules.get(a) ?? []).find(
      (r) => r.affinity === "negative" && r.resources.includes(b),
    );
  }

  /** Members of positive resource-affinity rules with this resource (the resource itself excluded). */
  positivePartners(sid: string): { rule: ResourceAffinityRule; partners: string[] }[] {
    return (this.resourceRules.get(sid) ?? [])
      .filter((r) => r.affinity === "positive")
      .map((rule) => ({ rule, partners: rule.resources.filter((s) => s !== sid) }));
  }
}

export function fitsMessage(needBytes: number, headroomBytes: number): string {
  return `needs ${renderBytes(needBytes)} + ${renderBytes(headroomBytes)} headroom`;
}
