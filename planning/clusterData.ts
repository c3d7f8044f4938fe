/**
 * ClusterData: the raw PVE answers planning needs, as plain data (JSON-serialisable, already parsed by
 * proxmox/schemas.ts). gatherClusterData is the only I/O of planning: it asks the PveClient port and
 * nothing else, so the planner can be fed from the lab, a real cluster, a snapshot or a test builder.
 */
import { PveApiError } from "../lib/errors.ts";
import type { GuestRef, PveClient } from "../proxmox/port.ts";
import type {
  ClusterResource,
  ClusterStatusEntry,
  GuestConfig,
  HaManagerStatus,
  HaRule,
  HaStatusEntry,
  MigratePrecondition,
  NodeStatus,
} from "../proxmox/schemas.ts";

export interface ClusterData {
  resources: ClusterResource[];
  clusterStatus: ClusterStatusEntry[];
  /** node name → /nodes/{n}/status; missing for offline or unreachable nodes. */
  nodeStatus: Record<string, NodeStatus>;
  /** vmid (as a string) → guest config; only for the guests that were gathered. */
  guestConfigs: Record<string, GuestConfig>;
  /** vmid → GET .../migrate answer (qemu only; PVE's lxc variant is newer than what we support). */
  preconditions: Record<string, MigratePrecondition>;
  haStatus: HaStatusEntry[];
  haManagerStatus: HaManagerStatus;
  haRules: HaRule[];
}

export interface GatherOptions {
  /** Fetch configs and preconditions only for the guests on this node (the evacuation source). */
  guestsOn?: string;
  /** …or only for these guests (pre-checks of a single move). */
  vmids?: readonly number[];
  /**
   * Read /nodes/{n}/status only for these nodes (a pre-check needs its target's fresh figures, not all
   * 100 nodes'); the others fall back to /cluster/resources figures. Default: every online node.
   */
  nodes?: readonly string[];
  /** Parallel requests for per-guest/per-node calls; PVE handles a few at once well. */
  concurrency?: number;
}

async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  });
  await Promise.all(lanes);
}

export async function gatherClusterData(client: PveClient, opts: GatherOptions = {}): Promise<ClusterData> {
  const [resources, clusterStatus, haStatus, haManagerStatus, haRules] = await Promise.all([
    client.clusterResources(),
    client.clusterStatus(),
    client.haStatusCurrent(),
    client.haManagerStatus(),
    client.haRules(),
  ]);
  const limit = opts.concurrency ?? 8;

  const wantedNodes = opts.nodes ? new Set(opts.nodes) : undefined;
  const onlineNodes = resources
    .filter((r) => r.type === "node" && r.node !== undefined && r.status === "online")
    .map((r) => r.node as string)
    .filter((n) => wantedNodes === undefined || wantedNodes.has(n));
  const nodeStatus: Record<string, NodeStatus> = {};
  await forEachLimited(onlineNodes, limit, async (node) => {
    try {
      nodeStatus[node] = await client.nodeStatus(node);
    } catch (e) {
      // One unreachable node (595) must not hide the whole cluster; the view falls back to
      // /cluster/resources figures for it.
      if (!(e instanceof PveApiError)) throw e;
    }
  });

  const wanted = opts.vmids ? new Set(opts.vmids) : undefined;
  const guests: GuestRef[] = resources
    .filter(
      (r) =>
        (r.type === "qemu" || r.type === "lxc") &&
        r.vmid !== undefined &&
        r.node !== undefined &&
        (opts.guestsOn === undefined || r.node === opts.guestsOn) &&
        (wanted === undefined || wanted.has(r.vmid)),
    )
    .map((r) => ({ node: r.node as string, type: r.type as GuestRef["type"], vmid: r.vmid as number }));
  const guestConfigs: Record<string, GuestConfig> = {};
  const preconditions: Record<string, MigratePrecondition> = {};
  await forEachLimited(guests, limit, async (ref) => {
    guestConfigs[ref.vmid] = await client.guestConfig(ref);
    if (ref.type === "qemu") preconditions[ref.vmid] = await client.migratePrecondition(ref);
  });

  return {
    resources,
    clusterStatus,
    nodeStatus,
    guestConfigs,
    preconditions,
    haStatus,
    haManagerStatus,
    haRules,
  };
}
