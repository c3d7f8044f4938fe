/**
 * The lab cluster's in-memory state: nodes, storages, guests, HA resources and rules. Plain data with a
 * few lookups; what the API shows of it is rendered by lab/views.ts, and what changes it over time
 * (migrations, faults) lives in lab/migration.ts and lab/faults.ts. Tests arrange scenarios by mutating
 * it directly (a lock, an offline node) or by building one with lab/generate.ts.
 */
import type { Workload } from "./migrationModel.ts";

export type WorkloadName = Workload["name"];
export type LabGuestType = "qemu" | "lxc";

export const GiB = 1024 ** 3;
export const MiB = 1024 ** 2;

export interface LabNode {
  name: string;
  nodeid: number;
  /** Cluster network address (what `starting migration ... (ip)` shows). */
  ip: string;
  online: boolean;
  /** HA node maintenance (`ha-manager crm-command node-maintenance enable`). */
  maintenance: boolean;
  cpus: number;
  cpuModel: string;
  memTotalBytes: number;
  /** Host overhead (kernel, ceph, pve daemons) on top of the guests. */
  hostMemUsedBytes: number;
  bootEpochS: number;
  sslFingerprint: string;
}

export interface LabStorage {
  id: string;
  type: "rbd" | "lvmthin" | "dir" | "zfspool";
  shared: boolean;
  content: readonly string[];
  /** Restricted to these nodes (storage.cfg `nodes`); undefined = every node. */
  nodes?: readonly string[];
  totalBytes: number;
  usedBytes: number;
}

export interface LabDisk {
  /** Config key: scsi0, virtio1, rootfs, mp0… */
  key: string;
  storage: string;
  /** Volume name inside the storage, e.g. vm-101-disk-0. */
  volume: string;
  sizeBytes: number;
}

export interface LabGuest {
  vmid: number;
  type: LabGuestType;
  name: string;
  node: string;
  status: "running" | "stopped";
  template: boolean;
  memoryBytes: number;
  cores: number;
  /** Drives the pre-copy model (dirty rate, working set). */
  workload: WorkloadName;
  tags: string[];
  lock?: string;
  disks: LabDisk[];
  /** PCI passthrough devices (`hostpci0: 0000:01:00.0`): local resources, no live migration. */
  hostpci: string[];
  usb: string[];
  agent: boolean;
  mac: string;
  uuid: string;
  vmgenid: string;
  startedAtEpochS?: number;
  /** Set while a migration runs: the target already holds the incoming VM's memory. */
  migrationTarget?: string;
  /** The config exactly as recorded (from a snapshot); shown instead of the generated one. */
  rawConfig?: Record<string, string | number>;
}

export type HaServiceState = "started" | "stopped" | "migrate" | "relocate" | "request_stop" | "error";

export interface LabHaResource {
  /** `vm:103`, `ct:105`. */
  sid: string;
  vmid: number;
  /** Requested state in resources.cfg. */
  requestState: "started" | "stopped" | "disabled" | "ignored";
  /** CRM service state (manager_status). */
  state: HaServiceState;
  /** Target of a pending migrate/relocate. */
  target?: string;
  uid: string;
  maxRelocate: number;
  maxRestart: number;
  failback: boolean;
  comment?: string;
}

export interface LabHaRule {
  rule: string;
  type: "node-affinity" | "resource-affinity";
  resources: string[];
  /** node-affinity: `node` or `node:priority`. */
  nodes?: string[];
  affinity?: "positive" | "negative";
  strict?: boolean;
  disable?: boolean;
  comment?: string;
}

export interface PveVersionInfo {
  version: string;
  release: string;
  repoid: string;
}

export interface LabClusterInit {
  name?: string;
  version?: PveVersionInfo;
  nodes: LabNode[];
  storages: LabStorage[];
  guests: LabGuest[];
  ha?: LabHaResource[];
  haRules?: LabHaRule[];
}

/** Share of its memory a running guest really uses, and its CPU load, by workload. */
const USAGE: Record<WorkloadName, { mem: number; cpu: number }> = {
  idle: { mem: 0.35, cpu: 0.02 },
  video: { mem: 0.55, cpu: 0.18 },
  game: { mem: 0.8, cpu: 0.55 },
};

export class LabCluster {
  name: string;
  version: PveVersionInfo;
  readonly nodes: LabNode[];
  readonly storages: LabStorage[];
  readonly guests: Map<number, LabGuest>;
  readonly ha: Map<string, LabHaResource>;
  readonly haRules: LabHaRule[];

  constructor(init: LabClusterInit) {
    this.name = init.name ?? "lab";
    this.version = init.version ?? { version: "9.1.1", release: "9.1", repoid: "42db4a6cf33dac83" };
    this.nodes = init.nodes;
    this.storages = init.storages;
    this.guests = new Map(init.guests.map((g) => [g.vmid, g]));
    this.ha = new Map((init.ha ?? []).map((r) => [r.sid, r]));
    this.haRules = init.haRules ?? [];
  }

  node(name: string): LabNode | undefined {
    return this.nodes.find((n) => n.name === name);
  }

  guest(vmid: number): LabGuest | undefined {
    return this.guests.get(vmid);
  }

  /** Guests whose config lives on `node`, by VMID. */
  guestsOn(node: string): LabGuest[] {
    return [...this.guests.values()].filter((g) => g.node === node).sort((a, b) => a.vmid - b.vmid);
  }

  allGuests(): LabGuest[] {
    return [...this.guests.values()].sort((a, b) => a.vmid - b.vmid);
  }

  storage(id: string): LabStorage | undefined {
    return this.storages.find((s) => s.id === id);
  }

  storageAvailableOn(id: string, node: string): boolean {
    const s = this.storage(id);
    return s !== undefined && (s.nodes === undefined || s.nodes.includes(node));
  }

  haOf(vmid: number): LabHaResource | undefined {
    for (const r of this.ha.values()) if (r.vmid === vmid) return r;
    return undefined;
  }

  /** The HA master: the first online node (PVE elects one; the lab keeps it predictable). */
  masterNode(): LabNode | undefined {
    return this.nodes.find((n) => n.online) ?? this.nodes[0];
  }

  guestMemUsed(g: LabGuest): number {
    return g.status === "running" ? Math.round(g.memoryBytes * USAGE[g.workload].mem) : 0;
  }

  /** Fraction of the guest's own vCPUs in use. */
  guestCpu(g: LabGuest): number {
    return g.status === "running" ? USAGE[g.workload].cpu : 0;
  }

  /** Host memory in use on a node: overhead, its running guests, and guests migrating in. */
  memUsedOn(node: string): number {
    const n = this.node(node);
    if (!n) return 0;
    let used = n.hostMemUsedBytes;
    for (const g of this.guests.values()) {
      if (g.status !== "running") continue;
      if (g.node === node) used += this.guestMemUsed(g);
      else if (g.migrationTarget === node) used += this.guestMemUsed(g);
    }
    return Math.min(used, n.memTotalBytes);
  }

  cpuOn(node: string): number {
    const n = this.node(node);
    if (!n) return 0;
    let busy = 0.01 * n.cpus;
    for (const g of this.guestsOn(node)) busy += this.guestCpu(g) * g.cores;
    return Math.min(1, busy / n.cpus);
  }

  setNodeOnline(name: string, online: boolean): void {
    const n = this.requireNode(name);
    n.online = online;
  }

  setNodeMaintenance(name: string, maintenance: boolean): void {
    this.requireNode(name).maintenance = maintenance;
  }

  /** Sets (or clears, with undefined) a guest's config lock, e.g. "backup" or "migrate". */
  setLock(vmid: number, lock: string | undefined): void {
    const g = this.guests.get(vmid);
    if (!g) throw new Error(`lab: no guest ${vmid}`);
    if (lock === undefined) delete g.lock;
    else g.lock = lock;
  }

  private requireNode(name: string): LabNode {
    const n = this.node(name);
    if (!n) throw new Error(`lab: no node ${name}`);
    return n;
  }
}
