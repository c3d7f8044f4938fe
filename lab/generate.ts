/**
 * Builds lab clusters: `generateCluster` makes a realistic one from a seed (same seed, same cluster),
 * and `LabClusterBuilder` lets a test or the demo say exactly what sits where:
 *
 *   new LabClusterBuilder({ nodes: 3 })
 *     .vm(101, { node: "node1", workload: "idle" })
 *     .vm(104, { node: "node1", hostpci: ["0000:01:00.0"] })
 *     .build();
 */

import { createHash } from "node:crypto";
import { seededRandom } from "../lib/seededRandom.ts";
import {
  GiB,
  LabCluster,
  type LabDisk,
  type LabGuest,
  type LabGuestType,
  type LabHaResource,
  type LabHaRule,
  type LabNode,
  type LabStorage,
  type WorkloadName,
} from "./cluster.ts";

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)] as T;
}

function hexBytes(rand: () => number, n: number): string[] {
  return Array.from({ length: n }, () =>
    Math.floor(rand() * 256)
      .toString(16)
      .padStart(2, "0"),
  );
}

function uuid(rand: () => number): string {
  const h = hexBytes(rand, 16).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export interface VmSpec {
  node: string;
  workload?: WorkloadName;
  name?: string;
  memoryGiB?: number;
  cores?: number;
  status?: "running" | "stopped";
  template?: boolean;
  /** PCI passthrough: a local resource that blocks live migration. */
  hostpci?: string[];
  usb?: string[];
  /** Default: one 32 GiB disk on the shared `ceph-pool`. */
  disks?: { storage: string; sizeGiB: number; key?: string }[];
  /** Make it an HA resource (requested state `started`). */
  ha?: boolean;
  tags?: string[];
  lock?: string;
  agent?: boolean;
}

export interface BuilderOptions {
  /** A count (node1..nodeN) or explicit names. Default 3. */
  nodes?: number | readonly string[];
  seed?: number;
  nodeMemoryGiB?: number;
  clusterName?: string;
}

export class LabClusterBuilder {
  private readonly rand: () => number;
  private readonly nodeList: LabNode[];
  private readonly storageList: LabStorage[];
  private readonly guestList: LabGuest[] = [];
  private readonly haList: LabHaResource[] = [];
  private readonly rules: LabHaRule[] = [];
  private readonly clusterName: string;

  constructor(options: BuilderOptions = {}) {
    this.rand = seededRandom(options.seed ?? 1);
    this.clusterName = options.clusterName ?? "lab";
    const names =
      typeof options.nodes === "object"
        ? [...options.nodes]
        : Array.from({ length: options.nodes ?? 3 }, (_, i) => `node${i + 1}`);
    const now = Math.floor(Date.now() / 1000);
    this.nodeList = names.map((name, i) => ({
      name,
      nodeid: i + 1,
      ip: `10.10.10.${11 + i}`,
      online: true,
      maintenance: false,
      cpus: 16,
      cpuModel: "AMD EPYC 7302P 16-Core Processor",
      memTotalBytes: (options.nodeMemoryGiB ?? 64) * GiB,
      hostMemUsedBytes: Math.round((3 + this.rand() * 3) * GiB),
      bootEpochS: now - Math.round((3 + this.rand() * 40) * 86_400),
      sslFingerprint: hexBytes(this.rand, 32).join(":").toUpperCase(),
    }));
    this.storageList = [
      {
        id: "ceph-pool",
        type: "rbd",
        shared: true,
        content: ["images", "rootdir"],
        totalBytes: 3 * 1024 * GiB,
        usedBytes: 0,
      },
      {
        id: "local-lvm",
        type: "lvmthin",
        shared: false,
        content: ["images", "rootdir"],
        totalBytes: 800 * GiB,
        usedBytes: 0,
      },
      {
        id: "local",
        type: "dir",
        shared: false,
        content: ["iso", "vztmpl", "backup"],
        totalBytes: 94 * GiB,
        usedBytes: Math.round(11.5 * GiB),
      },
    ];
  }

  /** Adds or replaces a storage (e.g. one restricted to some nodes). */
  storage(s: LabStorage): this {
    const i = this.storageList.findIndex((x) => x.id === s.id);
    if (i >= 0) this.storageList[i] = s;
    else this.storageList.push(s);
    return this;
  }

  vm(vmid: number, spec: VmSpec): this {
    return this.guest("qemu", vmid, spec);
  }

  ct(vmid: number, spec: VmSpec): this {
    return this.guest("lxc", vmid, spec);
  }

  haRule(rule: LabHaRule): this {
    this.rules.push(rule);
    return this;
  }

  build(): LabCluster {
    const cluster = new LabCluster({
      name: this.clusterName,
      nodes: this.nodeList,
      storages: this.storageList,
      guests: this.guestList,
      ha: this.haList,
      haRules: this.rules,
    });
    for (const s of cluster.storages) {
      if (s.id === "local") continue;
      s.usedBytes = cluster
        .allGuests()
        .flatMap((g) => g.disks)
        .filter((d) => d.storage === s.id)
        .reduce((sum, d) => sum + d.sizeBytes, 0);
    }
    return cluster;
  }

  private guest(type: LabGuestType, vmid: number, spec: VmSpec): this {
    if (!this.nodeList.some((n) => n.name === spec.node)) {
      throw new Error(`lab builder: guest ${vmid} is on unknown node ${spec.node}`);
    }
    if (this.guestList.some((g) => g.vmid === vmid)) throw new Error(`lab builder: duplicate VMID ${vmid}`);
    const workload = spec.workload ?? "idle";
    const template = spec.template ?? false;
    const status = template ? "stopped" : (spec.status ?? "running");
    const diskSpecs = spec.disks ?? [
      { storage: "ceph-pool", sizeGiB: type === "lxc" ? 8 : 32, key: type === "lxc" ? "rootfs" : "scsi0" },
    ];
    const disks: LabDisk[] = diskSpecs.map((d, i) => ({
      key: d.key ?? (type === "lxc" ? (i === 0 ? "rootfs" : `mp${i - 1}`) : `scsi${i}`),
      storage: d.storage,
      volume: template ? `base-${vmid}-disk-${i}` : `vm-${vmid}-disk-${i}`,
      sizeBytes: d.sizeGiB * GiB,
    }));
    const now = Math.floor(Date.now() / 1000);
    const g: LabGuest = {
      vmid,
      type,
      name: spec.name ?? `${type === "lxc" ? "ct" : workload}-${vmid}`,
      node: spec.node,
      status,
      template,
      memoryBytes: (spec.memoryGiB ?? (type === "lxc" ? 1 : 4)) * GiB,
      cores: spec.cores ?? (type === "lxc" ? 1 : 2),
      workload,
      tags: spec.tags ?? [`workload-${workload}`],
      disks,
      hostpci: spec.hostpci ?? [],
      usb: spec.usb ?? [],
      agent: spec.agent ?? type === "qemu",
      mac: `BC:24:11:${hexBytes(this.rand, 3).join(":").toUpperCase()}`,
      uuid: uuid(this.rand),
      vmgenid: uuid(this.rand),
      ...(status === "running" ? { startedAtEpochS: now - Math.round(3600 + this.rand() * 9 * 86_400) } : {}),
      ...(spec.lock !== undefined ? { lock: spec.lock } : {}),
    };
    this.guestList.push(g);
    if (spec.ha) {
      const sid = `${type === "lxc" ? "ct" : "vm"}:${vmid}`;
      this.haList.push({
        sid,
        vmid,
        requestState: status === "running" ? "started" : "stopped",
        state: status === "running" ? "started" : "stopped",
        uid: createHash("sha1").update(`${sid}${this.rand()}`).digest("base64").slice(0, 22),
        maxRelocate: 1,
        maxRestart: 1,
        failback: true,
      });
    }
    return this;
  }
}

export interface GenerateOptions {
  nodes?: number;
  vms?: number;
  seed?: number;
}

type Role = "normal" | "blocked" | "ha" | "lxc" | "stopped" | "template";
const SPECIAL_ROLES: readonly Role[] = ["blocked", "ha", "lxc", "stopped", "template", "stopped"];
const WORKLOAD_ORDER: readonly WorkloadName[] = ["idle", "video", "game"];

/**
 * A cluster of `nodes` nodes (64 GiB each) and `vms` guests from VMID 101, spread round-robin. At least
 * half are ordinary running VMs with a mix of workloads; the rest, as room allows: a VM with PCI
 * passthrough, an HA-managed VM, an LXC container, stopped VMs and a template.
 */
export function generateCluster(options: GenerateOptions = {}): LabCluster {
  const nodeCount = options.nodes ?? 3;
  const vmCount = options.vms ?? 12;
  const seed = options.seed ?? 1;
  if (!Number.isInteger(nodeCount) || nodeCount < 1) throw new Error("lab: nodes must be a positive integer");
  if (!Number.isInteger(vmCount) || vmCount < 0) throw new Error("lab: vms must be a non-negative integer");
  const rand = seededRandom(seed ^ 0x5eed);
  const builder = new LabClusterBuilder({ nodes: nodeCount, seed });
  const specials = Math.min(SPECIAL_ROLES.length, vmCount - Math.ceil(vmCount / 2));
  const roles: Role[] = [
    ...Array.from({ length: vmCount - specials }, () => "normal" as const),
    ...SPECIAL_ROLES.slice(0, specials),
  ];
  // A seeded rotation of the workload cycle, so different seeds put different workloads first.
  const shift = Math.floor(rand() * WORKLOAD_ORDER.length);
  let haVmid: number | undefined;
  let haNode = "node1";
  roles.forEach((role, i) => {
    const vmid = 101 + i;
    const node = `node${(i % nodeCount) + 1}`;
    switch (role) {
      case "normal": {
        const workload = WORKLOAD_ORDER[(i + Math.floor(i / nodeCount) + shift) % 3] as WorkloadName;
        const memoryGiB =
          workload === "game" ? pick(rand, [4, 8]) : workload === "video" ? 4 : pick(rand, [2, 4]);
        builder.vm(vmid, { node, workload, memoryGiB, cores: workload === "game" ? 4 : 2 });
        break;
      }
      case "blocked":
        builder.vm(vmid, {
          node,
          workload: "video",
          name: `gpu-${vmid}`,
          memoryGiB: 8,
          cores: 4,
          hostpci: ["0000:01:00.0,pcie=1"],
        });
        break;
      case "ha":
        builder.vm(vmid, { node, workload: "idle", name: `ha-db-${vmid}`, memoryGiB: 4, ha: true });
        haVmid = vmid;
        haNode = node;
        break;
      case "lxc":
        builder.ct(vmid, { node, workload: "idle", name: `ct-dns-${vmid}`, memoryGiB: 1 });
        break;
      case "stopped":
        builder.vm(vmid, {
          node,
          workload: "idle",
          name: `stopped-${vmid}`,
          memoryGiB: 2,
          status: "stopped",
        });
        break;
      case "template":
        builder.vm(vmid, {
          node,
          workload: "idle",
          name: "tmpl-debian-12",
          memoryGiB: 2,
          template: true,
          agent: true,
        });
        break;
    }
  });
  if (haVmid !== undefined && nodeCount > 1) {
    // Non-strict preference: the HA VM would rather stay where it is, any node will do.
    const others = Array.from({ length: nodeCount }, (_, i) => `node${i + 1}`).filter((n) => n !== haNode);
    builder.haRule({
      rule: "ha-db-prefers-home",
      type: "node-affinity",
      resources: [`vm:${haVmid}`],
      nodes: [`${haNode}:2`, ...others.map((n) => `${n}:1`)],
      strict: false,
    });
  }
  return builder.build();
}
