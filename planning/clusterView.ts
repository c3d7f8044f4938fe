/**
 * ClusterView: what planning and pre-checks reason about, derived from ClusterData by pure functions.
 * PVE spreads the facts over several endpoints (memory on node status, storages on resources, reasons on
 * the migrate precondition, maintenance only in the HA manager status); this is the one place that
 * reconciles them, so the planner never touches raw API shapes.
 */
import type { GuestConfig, GuestType, MigratePrecondition, NotAllowedReason } from "../proxmox/schemas.ts";
import type { ClusterData } from "./clusterData.ts";

const MiB = 1024 ** 2;
/** PVE's default when a qemu/lxc config has no `memory`. */
export const DEFAULT_MEMORY_BYTES = 512 * MiB;

export interface NodeView {
  name: string;
  online: boolean;
  /** Online and member of a quorate cluster (a standalone node counts as quorate). */
  quorate: boolean;
  maintenance: boolean;
  /** Which signal said so, for messages. */
  maintenanceReason?: string;
  /** HA manager's own state of the node (online, maintenance, fence, unknown, gone) when HA knows it. */
  haState?: string;
  memoryTotalBytes: number;
  memoryFreeBytes: number;
  /** Storage ids whose status is `available` on this node, sorted. */
  storages: string[];
}

export interface LocalDiskView {
  volid: string;
  sizeBytes?: number;
  cdrom: boolean;
  unused: boolean;
}

export interface MappedResourceView {
  id: string;
  /** PVE said the mapping supports live migration. */
  liveMigration: boolean;
}

export interface PreconditionView {
  /** Nodes PVE allows; undefined when PVE did not say (running VMs on PVE < 8.4). */
  allowedNodes?: string[];
  /**
   * Node → PVE's reasons as PVE sent them (`{}` for allowed nodes). Kept raw because PVE lists every
   * node for every guest; pveReasons() puts one node's reasons into words when a message needs them.
   */
  notAllowed: Record<string, NotAllowedReason>;
}

export interface GuestView {
  vmid: number;
  name: string;
  type: GuestType;
  node: string;
  /** As /cluster/resources says: running, stopped, … */
  status: string;
  template: boolean;
  /** Configured memory: what the guest may claim on a target. */
  memoryBytes: number;
  tags: string[];
  lock?: string;
  /** Present when the guest is an HA resource. */
  ha?: { sid: string; state?: string };
  /** Devices that tie the guest to its node (hostpci/usb passthrough, host paths, lxc devices/bind mounts). */
  localResources: string[];
  mappedResources: MappedResourceView[];
  localDisks: LocalDiskView[];
  /** Storage ids the guest's volumes live on, sorted. */
  storages: string[];
  precondition?: PreconditionView;
  /** HA resources PVE moves along with this one (positive resource affinity). */
  dependentHaResources: string[];
}

export interface NodeAffinityRule {
  kind: "node-affinity";
  rule: string;
  resources: string[];
  nodes: { node: string; priority: number }[];
  strict: boolean;
}

export interface ResourceAffinityRule {
  kind: "resource-affinity";
  rule: string;
  resources: string[];
  affinity: "positive" | "negative";
}

export type HaAffinityRule = NodeAffinityRule | ResourceAffinityRule;

export interface ClusterView {
  quorate: boolean;
  /** Sorted by name. */
  nodes: NodeView[];
  /** Sorted by vmid. */
  guests: GuestView[];
  /** Enabled rules only. */
  rules: HaAffinityRule[];
}

export function haSid(type: GuestType, vmid: number): string {
  return `${type === "qemu" ? "vm" : "ct"}:${vmid}`;
}

/** PVE tags: `a;b` in resources, also `,`/space separated in configs; compared case-insensitively. */
export function parseTags(text: string | undefined): string[] {
  if (!text) return [];
  return [
    ...new Set(
      text
        .split(/[;,\s]+/)
        .map((t) => t.trim().toLowerCase())
        .filter((t) => t.length > 0),
    ),
  ].sort();
}

/** `memory` is MiB, either a number or (PVE 8.1+) a property string `current=2048[,…]`. */
export function parseMemoryMiB(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "number") return value;
  const m = /^(?:current=)?(\d+)(?:,|$)/.exec(value.trim()) ?? /(?:^|,)current=(\d+)(?:,|$)/.exec(value);
  return m ? Number(m[1]) : undefined;
}

const DISK_KEY = /^(?:(?:scsi|virtio|sata|ide|mp)\d+|efidisk0|tpmstate0|rootfs)$/;

export interface ConfigVolumes {
  /** storage id → volumes on it, for each disk key with a storage volume. */
  volumes: { key: string; storage: string; volid: string; cdrom: boolean }[];
  /** Disk keys that point at the host itself: a host path, a physical CD drive, an lxc bind mount. */
  hostBound: string[];
}

/** Reads the disk keys of a qemu/lxc config: `storage:volume,opt=…` values. */
export function configVolumes(config: GuestConfig): ConfigVolumes {
  const volumes: ConfigVolumes["volumes"] = [];
  const hostBound: string[] = [];
  for (const key of Object.keys(config).sort()) {
    if (!DISK_KEY.test(key)) continue;
    const value = String(config[key]);
    const parts = value.split(",");
    const first = (parts[0] ?? "").replace(/^(?:file|volume)=/, "").trim();
    const cdrom = parts.some((p) => p.trim() === "media=cdrom");
    if (first === "" || first === "none") continue;
    if (first === "cdrom") {
      hostBound.push(`${key} (host CD/DVD drive)`);
      continue;
    }
    if (first.startsWith("/")) {
      // lxc bind mounts marked shared=1 exist on every node by the admin's promise; PVE honours that.
      if (parts.some((p) => p.trim() === "shared=1")) continue;
      hostBound.push(`${key} (host path ${first})`);
      continue;
    }
    const colon = first.indexOf(":");
    if (colon <= 0) continue;
    volumes.push({ key, storage: first.slice(0, colon), volid: first, cdrom });
  }
  return { volumes, hostBound };
}

/** Passthrough devices named in a config (used when PVE's precondition is not at hand). */
function configDevices(type: GuestType, config: GuestConfig): { local: string[]; mapped: string[] } {
  const local: string[] = [];
  const mapped: string[] = [];
  for (const key of Object.keys(config).sort()) {
    const value = String(config[key]);
    if (type === "qemu" && /^(?:hostpci|usb)\d+$/.test(key)) {
      if (/(?:^|,)mapping=/.test(value)) mapped.push(key);
      else if (!/^spice(?:,|$)/.test(value)) local.push(key);
    } else if (type === "lxc" && /^dev\d+$/.test(key)) {
      local.push(key);
    }
  }
  return { local, mapped };
}

const KNOWN_REASONS = new Set([
  "unavailable_storages",
  "unavailable-storages",
  "unavailable-resources",
  "blocking-ha-resources",
]);

/** PVE's reasons for refusing `node`, in words; empty when PVE gave none. */
export function pveReasons(pre: PreconditionView, node: string): string[] {
  const reason = pre.notAllowed[node];
  return reason ? reasonsInWords(reason) : [];
}

function reasonsInWords(reason: NotAllowedReason): string[] {
  const out: string[] = [];
  const storages = [...(reason.unavailable_storages ?? []), ...(reason["unavailable-storages"] ?? [])];
  if (storages.length > 0) out.push(`storage ${storages.join(", ")} not available there`);
  const resources = reason["unavailable-resources"] ?? [];
  if (resources.length > 0) out.push(`mapped resource ${resources.join(", ")} not available there`);
  for (const b of reason["blocking-ha-resources"] ?? []) {
    out.push(
      b.cause === "resource-affinity"
        ? `HA resource ${b.sid} there is in negative affinity with it`
        : `blocked by HA resource ${b.sid} (${b.cause})`,
    );
  }
  // Loose object: a reason key we do not know yet still deserves to be shown.
  for (const k in reason) {
    if (!KNOWN_REASONS.has(k)) out.push(`${k}: ${JSON.stringify(reason[k])}`);
  }
  return out;
}

function preconditionView(p: MigratePrecondition): PreconditionView {
  const allowed = p.allowed_nodes ?? p["allowed-nodes"];
  // qemu answers with underscores, lxc (9.0+) with dashes; never both.
  const notAllowed = p.not_allowed_nodes ?? p["not-allowed-nodes"] ?? {};
  return allowed === undefined ? { notAllowed } : { allowedNodes: allowed, notAllowed };
}

function truthy(v: unknown): boolean {
  return v === true || v === 1 || v === "1";
}

function parseHaNodes(text: string): { node: string; priority: number }[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const [node, pri] = s.split(":");
      return { node: (node ?? "").trim(), priority: pri === undefined ? 0 : Number(pri) || 0 };
    })
    .filter((n) => n.node.length > 0);
}

function parseHaResources(text: string | undefined): string[] {
  return (text ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => (/^\d+$/.test(s) ? `vm:${s}` : s));
}

type GuestDetails = Pick<
  GuestView,
  "localResources" | "mappedResources" | "localDisks" | "storages" | "dependentHaResources"
>;

/** What ties a guest to its node, from PVE's precondition when there is one, else from its config. */
function guestDetails(
  type: GuestType,
  config: GuestConfig | undefined,
  pre: MigratePrecondition | undefined,
  sharedStorage: ReadonlyMap<string, boolean>,
): GuestDetails {
  const { volumes, hostBound } = config ? configVolumes(config) : { volumes: [], hostBound: [] };
  let localResources: string[];
  let mappedResources: MappedResourceView[];
  let localDisks: LocalDiskView[];
  if (pre) {
    const info = pre["mapped-resource-info"] ?? {};
    const mappedIds = [...new Set([...Object.keys(info), ...(pre["mapped-resources"] ?? [])])].sort();
    mappedResources = mappedIds.map((id) => {
      const detail = info[id];
      const live =
        typeof detail === "object" &&
        detail !== null &&
        truthy((detail as Record<string, unknown>)["live-migration"]);
      return { id, liveMigration: live };
    });
    const mappedSet = new Set(mappedIds);
    localResources = [...(pre.local_resources ?? []), ...(pre["local-resources"] ?? [])].filter(
      (x) => !mappedSet.has(x),
    );
    localDisks = [...(pre.local_disks ?? []), ...(pre["local-disks"] ?? [])].map((d) => {
      const disk: LocalDiskView = { volid: d.volid, cdrom: d.cdrom === true, unused: d.is_unused === true };
      if (d.size !== undefined) disk.sizeBytes = d.size;
      return disk;
    });
  } else {
    const devices = config ? configDevices(type, config) : { local: [], mapped: [] };
    localResources = devices.local;
    mappedResources = devices.mapped.map((id) => ({ id, liveMigration: false }));
    localDisks = volumes
      .filter((v) => sharedStorage.get(v.storage) === false)
      .map((v) => ({ volid: v.volid, cdrom: v.cdrom, unused: false }));
  }
  return {
    localResources: [...new Set([...localResources, ...hostBound])].sort(),
    mappedResources,
    localDisks,
    storages: [...new Set(volumes.map((v) => v.storage))].sort(),
    dependentHaResources: [
      ...new Set([...(pre?.["dependent-ha-resources"] ?? []), ...(pre?.["comigrated-ha-resources"] ?? [])]),
    ].sort(),
  };
}

export function buildClusterView(data: ClusterData): ClusterView {
  const clusterEntry = data.clusterStatus.find((e) => e.type === "cluster");
  const quorate = clusterEntry ? clusterEntry.quorate === true : true;

  const statusByNode = new Map(data.clusterStatus.filter((e) => e.type === "node").map((e) => [e.name, e]));
  const resourceNodes = new Map<string, (typeof data.resources)[number]>();
  const storagesByNode = new Map<string, string[]>();
  const sharedStorage = new Map<string, boolean>();
  const guestResources: (typeof data.resources)[number][] = [];
  for (const r of data.resources) {
    if (r.type === "node" && r.node) resourceNodes.set(r.node, r);
    else if (r.type === "storage" && r.node && r.storage) {
      if (r.shared !== undefined) sharedStorage.set(r.storage, r.shared);
      if (r.status === "available") {
        const list = storagesByNode.get(r.node) ?? [];
        list.push(r.storage);
        storagesByNode.set(r.node, list);
      }
    } else if ((r.type === "qemu" || r.type === "lxc") && r.vmid !== undefined && r.node)
      guestResources.push(r);
  }

  const ms = data.haManagerStatus.manager_status;
  const names = [...new Set([...statusByNode.keys(), ...resourceNodes.keys()])].sort();
  const nodes: NodeView[] = names.map((name) => {
    const st = statusByNode.get(name);
    const res = resourceNodes.get(name);
    const online = st?.online !== undefined ? st.online : res?.status === "online";
    const haState = ms?.node_status?.[name];
    let maintenanceReason: string | undefined;
    if (haState === "maintenance") maintenanceReason = "HA manager reports the node in maintenance";
    else if (truthy(ms?.node_request?.[name]?.maintenance))
      maintenanceReason =
        "maintenance mode was requested for the node (ha-manager crm-command node-maintenance)";
    else if (data.haManagerStatus.lrm_status?.[name]?.mode === "maintenance")
      maintenanceReason = "the node's HA LRM is in maintenance mode";
    else if (res?.hastate === "maintenance")
      maintenanceReason = "cluster resources report HA state maintenance";
    const status = data.nodeStatus[name];
    const total = status?.memory.total ?? res?.maxmem ?? 0;
    const free = status ? status.memory.free : (res?.maxmem ?? 0) - (res?.mem ?? 0);
    const view: NodeView = {
      name,
      online,
      quorate: online && quorate,
      maintenance: maintenanceReason !== undefined,
      memoryTotalBytes: total,
      // An offline node's last figures are no capacity anyone can use.
      memoryFreeBytes: online ? Math.max(0, free) : 0,
      storages: [...new Set(storagesByNode.get(name) ?? [])].sort(),
    };
    if (maintenanceReason) view.maintenanceReason = maintenanceReason;
    if (haState) view.haState = haState;
    return view;
  });

  const haStateBySid = new Map<string, string>();
  for (const e of data.haStatus) {
    if (e.type === "service" && e.sid) haStateBySid.set(e.sid, e.state ?? e.crm_state ?? e.status ?? "");
  }
  for (const [sid, s] of Object.entries(ms?.service_status ?? {})) {
    if (!haStateBySid.has(sid)) haStateBySid.set(sid, s.state);
  }

  const guests: GuestView[] = guestResources
    .map((r) => {
      const vmid = r.vmid as number;
      const type: GuestType = r.type === "lxc" ? "lxc" : "qemu";
      const config = data.guestConfigs[vmid];
      const pre = type === "qemu" ? data.preconditions[vmid] : undefined;
      const memMiB = parseMemoryMiB(config?.memory);
      const memoryBytes =
        memMiB !== undefined
          ? memMiB * MiB
          : config
            ? DEFAULT_MEMORY_BYTES
            : (r.maxmem ?? DEFAULT_MEMORY_BYTES);
      const details =
        config || pre
          ? guestDetails(type, config, pre, sharedStorage)
          : // Guests whose config was not gathered (not on the source): nothing to derive, keep it cheap.
            {
              localResources: [],
              mappedResources: [],
              localDisks: [],
              storages: [],
              dependentHaResources: [],
            };

      const sid = haSid(type, vmid);
      const haState = r.hastate ?? haStateBySid.get(sid);
      const guest: GuestView = {
        vmid,
        name: r.name ?? (typeof config?.name === "string" ? config.name : String(vmid)),
        type,
        node: r.node as string,
        status: r.status ?? "unknown",
        template: r.template === true || truthy(config?.template),
        memoryBytes,
        tags: parseTags(r.tags ?? (config?.tags === undefined ? undefined : String(config.tags))),
        ...details,
      };
      const lock = r.lock ?? (config?.lock === undefined ? undefined : String(config.lock));
      if (lock) guest.lock = lock;
      if (haState !== undefined) guest.ha = haState === "" ? { sid } : { sid, state: haState };
      if (pre) guest.precondition = preconditionView(pre);
      return guest;
    })
    .sort((a, b) => a.vmid - b.vmid);

  const rules: HaAffinityRule[] = [];
  for (const r of [...data.haRules].sort((a, b) => (a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0))) {
    if (truthy(r.disable)) continue;
    const resources = parseHaResources(r.resources);
    if (r.type === "node-affinity") {
      rules.push({
        kind: "node-affinity",
        rule: r.rule,
        resources,
        nodes: parseHaNodes(r.nodes ?? ""),
        strict: truthy(r.strict),
      });
    } else if (r.type === "resource-affinity" && (r.affinity === "positive" || r.affinity === "negative")) {
      rules.push({ kind: "resource-affinity", rule: r.rule, resources, affinity: r.affinity });
    }
  }

  return { quorate, nodes, guests, rules };
}
