/**
 * Builds a lab cluster from a snapshot of a real one (lab-api.md: API path → raw `data`), so a
 * recorded cluster can be replayed live — same nodes, guests, storages, configs, HA state — with the
 * lab's migration model moving its VMs. What the snapshot lacks is filled in plausibly (workload from a
 * `workload-*` tag, else idle).
 */
import { z } from "zod";
import type { Snapshot } from "../proxmox/snapshot.ts";
import {
  GiB,
  LabCluster,
  type LabDisk,
  type LabGuest,
  type LabHaResource,
  type LabHaRule,
  type LabNode,
  type LabStorage,
  MiB,
  type WorkloadName,
} from "./cluster.ts";

export type { Snapshot } from "../proxmox/snapshot.ts";

const Bool = z.union([z.literal(0), z.literal(1), z.boolean()]).transform((v) => v === 1 || v === true);
const Num = z.number();

const ClusterStatusRows = z.array(
  z.looseObject({
    type: z.string(),
    name: z.string(),
    nodeid: Num.optional(),
    ip: z.string().optional(),
    online: Bool.optional(),
    local: Bool.optional(),
  }),
);
const NodesRows = z.array(z.looseObject({ node: z.string(), status: z.string().optional() }));
const NodeStatusRow = z.looseObject({
  uptime: Num.optional(),
  cpuinfo: z.looseObject({ cpus: Num.optional(), model: z.string().optional() }).optional(),
  memory: z.looseObject({ total: Num, used: Num }).optional(),
});
const ResourceRows = z.array(
  z.looseObject({
    type: z.string(),
    id: z.string(),
    node: z.string().optional(),
    vmid: Num.optional(),
    name: z.string().optional(),
    status: z.string().optional(),
    template: Bool.optional(),
    maxmem: Num.optional(),
    mem: Num.optional(),
    maxcpu: Num.optional(),
    uptime: Num.optional(),
    tags: z.string().optional(),
    lock: z.string().optional(),
    storage: z.string().optional(),
    plugintype: z.string().optional(),
    shared: Bool.optional(),
    content: z.string().optional(),
    maxdisk: Num.optional(),
    disk: Num.optional(),
  }),
);
const Config = z.record(z.string(), z.union([z.string(), z.number()]));
const ManagerStatus = z.looseObject({
  manager_status: z
    .looseObject({
      node_status: z.record(z.string(), z.string()).optional(),
      service_status: z
        .record(
          z.string(),
          z.looseObject({
            node: z.string().optional(),
            state: z.string().optional(),
            uid: z.string().optional(),
            target: z.string().optional(),
          }),
        )
        .optional(),
    })
    .optional(),
});
const HaCurrent = z.array(
  z.looseObject({ type: z.string(), sid: z.string().optional(), request_state: z.string().optional() }),
);
const HaRuleRows = z.array(
  z.looseObject({
    rule: z.string(),
    type: z.string(),
    resources: z.string().optional(),
    nodes: z.string().optional(),
    affinity: z.string().optional(),
    strict: Bool.optional(),
    disable: Bool.optional(),
    comment: z.string().optional(),
  }),
);
const Version = z.looseObject({
  version: z.string(),
  release: z.string().optional(),
  repoid: z.string().optional(),
});

function get<T extends z.ZodType>(
  snap: Record<string, unknown>,
  path: string,
  schema: T,
): z.output<T> | undefined {
  if (!(path in snap)) return undefined;
  const r = schema.safeParse(snap[path]);
  if (!r.success)
    throw new Error(
      `snapshot: ${path} is not what PVE returns there: ${r.error.issues[0]?.message ?? "invalid"}`,
    );
  return r.data;
}

const DISK_KEY = /^(scsi|virtio|sata|ide|efidisk|tpmstate|rootfs|mp)\d*$/;

/** `ceph-pool:vm-101-disk-0,iothread=1,size=32G` → disk; cdroms and `none` are not disks. */
function parseDisk(key: string, value: string): LabDisk | undefined {
  if (!DISK_KEY.test(key) || value.includes("media=cdrom")) return undefined;
  const [volid, ...opts] = value.split(",");
  const m = /^([^:]+):(.+)$/.exec(volid ?? "");
  if (!m) return undefined;
  const size = opts.map((o) => /^size=(\d+(?:\.\d+)?)([KMGT]?)$/.exec(o)).find(Boolean);
  const unit = { "": 1, K: 1024, M: MiB, G: GiB, T: 1024 * GiB }[size?.[2] ?? "G"] ?? GiB;
  return {
    key,
    storage: m[1] as string,
    volume: m[2] as string,
    sizeBytes: size ? Math.round(Number(size[1]) * unit) : 0,
  };
}

function workloadOf(tags: string[]): WorkloadName {
  for (const t of tags) {
    const m = /^workload-(idle|video|game)$/.exec(t);
    if (m) return m[1] as WorkloadName;
  }
  return "idle";
}

/** `snapshot` as parsed by proxmox/snapshot.ts (parseSnapshot / loadSnapshotFile). */
export function clusterFromSnapshot(snapshot: Snapshot): LabCluster {
  const snap: Record<string, unknown> = snapshot;
  const nowS = Math.floor(Date.now() / 1000);
  const status = get(snap, "/cluster/status", ClusterStatusRows) ?? [];
  const resources = get(snap, "/cluster/resources", ResourceRows) ?? [];
  const clusterName = status.find((s) => s.type === "cluster")?.name ?? "snapshot";
  let nodeRows = status.filter((s) => s.type === "node");
  if (nodeRows.length === 0) {
    nodeRows = (get(snap, "/nodes", NodesRows) ?? []).map((n, i) => ({
      type: "node",
      name: n.node,
      nodeid: i + 1,
      online: n.status !== "offline",
    }));
  }
  if (nodeRows.length === 0) throw new Error("snapshot: no nodes (/cluster/status or /nodes is missing)");
  // The node the snapshot was taken through answers the lab's API.
  nodeRows.sort(
    (a, b) => Number(b.local ?? false) - Number(a.local ?? false) || a.name.localeCompare(b.name),
  );

  const guestRows = resources.filter((r) => (r.type === "qemu" || r.type === "lxc") && r.vmid !== undefined);
  const nodes: LabNode[] = nodeRows.map((row, i) => {
    const ns = get(snap, `/nodes/${row.name}/status`, NodeStatusRow);
    const nodeRes = resources.find((r) => r.type === "node" && r.node === row.name);
    const total = ns?.memory?.total ?? nodeRes?.maxmem ?? 64 * GiB;
    const used = ns?.memory?.used ?? nodeRes?.mem ?? 4 * GiB;
    const guestsMem = guestRows
      .filter((g) => g.node === row.name && g.status === "running")
      .reduce((s, g) => s + (g.mem ?? 0), 0);
    return {
      name: row.name,
      nodeid: row.nodeid ?? i + 1,
      ip: row.ip ?? `10.10.10.${11 + i}`,
      online: row.online ?? true,
      maintenance: false,
      cpus: ns?.cpuinfo?.cpus ?? nodeRes?.maxcpu ?? 16,
      cpuModel: ns?.cpuinfo?.model ?? "unknown CPU",
      memTotalBytes: total,
      hostMemUsedBytes: Math.max(Math.round(0.5 * GiB), used - guestsMem),
      bootEpochS: nowS - (ns?.uptime ?? nodeRes?.uptime ?? 86_400),
      sslFingerprint: "",
    };
  });

  const storageIds = [
    ...new Set(resources.filter((r) => r.type === "storage" && r.storage).map((r) => r.storage as string)),
  ];
  const storages: LabStorage[] = storageIds.map((id) => {
    const rows = resources.filter((r) => r.type === "storage" && r.storage === id);
    const onNodes = rows.map((r) => r.node).filter((n): n is string => n !== undefined);
    const first = rows[0];
    return {
      id,
      type: (["rbd", "lvmthin", "dir", "zfspool"].includes(first?.plugintype ?? "")
        ? first?.plugintype
        : "dir") as LabStorage["type"],
      shared: first?.shared ?? false,
      content: (first?.content ?? "images").split(","),
      ...(onNodes.length < nodes.length ? { nodes: onNodes } : {}),
      totalBytes: first?.maxdisk ?? 0,
      usedBytes: first?.disk ?? 0,
    };
  });

  const guests: LabGuest[] = guestRows.map((r) => {
    const type = r.type as "qemu" | "lxc";
    const vmid = r.vmid as number;
    const node = r.node ?? nodes[0]?.name ?? "node1";
    const config = get(snap, `/nodes/${node}/${type}/${vmid}/config`, Config) ?? {};
    const tags = String(config.tags ?? r.tags ?? "")
      .split(/[;,\s]+/)
      .filter(Boolean);
    const disks = Object.entries(config)
      .map(([k, v]) => parseDisk(k, String(v)))
      .filter((d): d is LabDisk => d !== undefined);
    const net0 = String(config.net0 ?? "");
    const mac =
      /(?:virtio|e1000|vmxnet3|rtl8139|hwaddr)=([0-9A-Fa-f:]{17})/.exec(net0)?.[1] ?? "BC:24:11:00:00:00";
    const memMiB = Number(
      String(config.memory ?? "")
        .replace(/^current=/, "")
        .split(",")[0],
    );
    const running = r.status === "running";
    const { lock, ...rest } = config;
    return {
      vmid,
      type,
      name: r.name ?? String(config.name ?? config.hostname ?? `guest-${vmid}`),
      node,
      status: running ? "running" : "stopped",
      template: r.template ?? config.template === 1,
      memoryBytes: Number.isFinite(memMiB) && memMiB > 0 ? memMiB * MiB : (r.maxmem ?? 2 * GiB),
      cores: Number(config.cores ?? r.maxcpu ?? 1),
      workload: workloadOf(tags),
      tags,
      ...(lock !== undefined || r.lock !== undefined ? { lock: String(lock ?? r.lock) } : {}),
      disks,
      hostpci: Object.keys(config)
        .filter((k) => /^hostpci\d+$/.test(k))
        .sort()
        .map((k) => String(config[k])),
      usb: Object.keys(config)
        .filter((k) => /^usb\d+$/.test(k) && !String(config[k]).startsWith("spice"))
        .sort()
        .map((k) => String(config[k])),
      agent: /^(1|enabled=1)/.test(String(config.agent ?? "0")),
      mac,
      uuid:
        /uuid=([0-9a-f-]+)/.exec(String(config.smbios1 ?? ""))?.[1] ?? "00000000-0000-4000-a000-000000000000",
      vmgenid: String(config.vmgenid ?? ""),
      ...(running ? { startedAtEpochS: nowS - (r.uptime ?? 3600) } : {}),
      ...(Object.keys(config).length > 0 ? { rawConfig: rest } : {}),
    };
  });

  const manager = get(snap, "/cluster/ha/status/manager_status", ManagerStatus)?.manager_status;
  const current = get(snap, "/cluster/ha/status/current", HaCurrent) ?? [];
  for (const [name, st] of Object.entries(manager?.node_status ?? {})) {
    const n = nodes.find((x) => x.name === name);
    if (n && st === "maintenance") n.maintenance = true;
  }
  const sids = new Set([
    ...Object.keys(manager?.service_status ?? {}),
    ...current.filter((c) => c.type === "service" && c.sid).map((c) => c.sid as string),
  ]);
  const ha: LabHaResource[] = [];
  for (const sid of sids) {
    const vmid = Number(sid.split(":")[1]);
    if (!guests.some((g) => g.vmid === vmid)) continue;
    const ss = manager?.service_status?.[sid];
    const req = current.find((c) => c.sid === sid)?.request_state ?? "started";
    ha.push({
      sid,
      vmid,
      requestState: (["started", "stopped", "disabled", "ignored"].includes(req)
        ? req
        : "started") as LabHaResource["requestState"],
      state: ss?.state === "stopped" ? "stopped" : "started",
      uid: ss?.uid ?? sid,
      maxRelocate: 1,
      maxRestart: 1,
      failback: true,
    });
  }
  const haRules: LabHaRule[] = (get(snap, "/cluster/ha/rules", HaRuleRows) ?? [])
    .filter((r) => r.type === "node-affinity" || r.type === "resource-affinity")
    .map((r) => ({
      rule: r.rule,
      type: r.type as LabHaRule["type"],
      resources: (r.resources ?? "").split(",").filter(Boolean),
      ...(r.nodes ? { nodes: r.nodes.split(",") } : {}),
      ...(r.affinity === "positive" || r.affinity === "negative" ? { affinity: r.affinity } : {}),
      ...(r.strict !== undefined ? { strict: r.strict } : {}),
      ...(r.disable ? { disable: true } : {}),
      ...(r.comment !== undefined ? { comment: r.comment } : {}),
    }));
  const version = get(snap, "/version", Version);
  return new LabCluster({
    name: clusterName,
    ...(version
      ? {
          version: {
            version: version.version,
            release: version.release ?? version.version,
            repoid: version.repoid ?? "0000000000000000",
          },
        }
      : {}),
    nodes,
    storages,
    guests,
    ha,
    haRules,
  });
}
