/**
 * What the PVE API shows of the lab cluster: pure functions from state (and `now`) to the exact JSON
 * shapes PVE returns — 0/1 booleans, optional keys left out rather than null, PVE's string formats
 * (`size=32G`, `memory: "4096"`, `order=scsi0;net0`). Route handlers only pick a view and return it.
 */
import { createHash } from "node:crypto";
import { GiB, type LabCluster, type LabGuest, type LabNode, MiB } from "./cluster.ts";

type Json = Record<string, unknown>;

const bit = (b: boolean) => (b ? 1 : 0);

function uptime(g: LabGuest, nowS: number): number {
  return g.status === "running" && g.startedAtEpochS !== undefined
    ? Math.max(0, nowS - g.startedAtEpochS)
    : 0;
}

/** PVE's size suffix in disk specs: the largest unit that divides evenly. */
export function formatDiskSize(bytes: number): string {
  for (const [unit, factor] of [
    ["T", 1024 ** 4],
    ["G", GiB],
    ["M", MiB],
    ["K", 1024],
  ] as const) {
    if (bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return String(bytes);
}

/** Deterministic, plausible I/O counters that grow with uptime. */
function ioCounters(g: LabGuest, up: number) {
  const k = (g.vmid % 7) + 1;
  return { netin: up * 1200 * k, netout: up * 800 * k, diskread: up * 4096 * k, diskwrite: up * 2048 * k };
}

function haServiceFor(cluster: LabCluster, g: LabGuest) {
  return cluster.haOf(g.vmid);
}

// ---- /cluster/resources ------------------------------------------------------------------------

function guestResource(cluster: LabCluster, g: LabGuest, nowS: number): Json {
  const node = cluster.node(g.node);
  const base: Json = { id: `${g.type}/${g.vmid}`, type: g.type, vmid: g.vmid, name: g.name, node: g.node };
  const ha = haServiceFor(cluster, g);
  if (node && !node.online) {
    return {
      ...base,
      status: "unknown",
      template: bit(g.template),
      ...(g.tags.length ? { tags: g.tags.join(";") } : {}),
    };
  }
  const up = uptime(g, nowS);
  const rootDisk = g.disks[0];
  return {
    ...base,
    status: g.status,
    template: bit(g.template),
    maxcpu: g.cores,
    cpu: cluster.guestCpu(g),
    maxmem: g.memoryBytes,
    mem: cluster.guestMemUsed(g),
    maxdisk: rootDisk?.sizeBytes ?? 0,
    disk: g.type === "lxc" && g.status === "running" ? Math.round((rootDisk?.sizeBytes ?? 0) * 0.3) : 0,
    uptime: up,
    ...ioCounters(g, up),
    ...(g.tags.length ? { tags: g.tags.join(";") } : {}),
    ...(g.lock !== undefined ? { lock: g.lock } : {}),
    ...(ha ? { hastate: ha.state } : {}),
  };
}

function nodeResource(cluster: LabCluster, n: LabNode, nowS: number): Json {
  const base: Json = { id: `node/${n.name}`, type: "node", node: n.name, level: "" };
  const hastate = cluster.ha.size > 0 ? { hastate: nodeHaState(n) } : {};
  if (!n.online) return { ...base, status: "offline", maxcpu: n.cpus, maxmem: n.memTotalBytes, ...hastate };
  return {
    ...base,
    status: "online",
    "cgroup-mode": 2,
    maxcpu: n.cpus,
    cpu: cluster.cpuOn(n.name),
    maxmem: n.memTotalBytes,
    mem: cluster.memUsedOn(n.name),
    maxdisk: 100 * GiB,
    disk: Math.round(12.4 * GiB),
    uptime: nowS - n.bootEpochS,
    ...hastate,
  };
}

function nodeHaState(n: LabNode): string {
  if (!n.online) return "unknown";
  return n.maintenance ? "maintenance" : "online";
}

function storageResources(cluster: LabCluster, n: LabNode): Json[] {
  return cluster.storages
    .filter((s) => s.nodes === undefined || s.nodes.includes(n.name))
    .map((s) => ({
      id: `storage/${n.name}/${s.id}`,
      type: "storage",
      storage: s.id,
      node: n.name,
      status: n.online ? "available" : "unknown",
      plugintype: s.type,
      shared: bit(s.shared),
      content: s.content.join(","),
      ...(n.online ? { maxdisk: s.totalBytes, disk: s.usedBytes } : {}),
    }));
}

export function clusterResources(cluster: LabCluster, nowS: number, type?: string): Json[] {
  const out: Json[] = [];
  if (type === undefined || type === "vm") {
    for (const g of cluster.allGuests()) out.push(guestResource(cluster, g, nowS));
  }
  if (type === undefined || type === "node") {
    for (const n of cluster.nodes) out.push(nodeResource(cluster, n, nowS));
  }
  if (type === undefined || type === "storage") {
    for (const n of cluster.nodes) out.push(...storageResources(cluster, n));
  }
  if (type === undefined || type === "sdn") {
    for (const n of cluster.nodes) {
      out.push({
        id: `sdn/${n.name}/localnetwork`,
        type: "sdn",
        sdn: "localnetwork",
        node: n.name,
        status: n.online ? "ok" : "unknown",
      });
    }
  }
  return out;
}

// ---- /cluster/status, /nodes, /nodes/{node}/status -----------------------------------------------

export function clusterStatus(cluster: LabCluster, localNode: string): Json[] {
  const online = cluster.nodes.filter((n) => n.online).length;
  return [
    {
      type: "cluster",
      id: "cluster",
      name: cluster.name,
      nodes: cluster.nodes.length,
      quorate: bit(online * 2 > cluster.nodes.length),
      version: cluster.nodes.length + 2,
    },
    ...cluster.nodes.map((n) => ({
      type: "node",
      id: `node/${n.name}`,
      name: n.name,
      nodeid: n.nodeid,
      ip: n.ip,
      online: bit(n.online),
      local: bit(n.name === localNode),
      level: "",
    })),
  ];
}

export function nodesList(cluster: LabCluster, nowS: number): Json[] {
  return cluster.nodes.map((n) => {
    const base = {
      node: n.name,
      id: `node/${n.name}`,
      type: "node",
      level: "",
      ssl_fingerprint: n.sslFingerprint,
    };
    if (!n.online) return { ...base, status: "offline" };
    return {
      ...base,
      status: "online",
      cpu: cluster.cpuOn(n.name),
      maxcpu: n.cpus,
      mem: cluster.memUsedOn(n.name),
      maxmem: n.memTotalBytes,
      disk: Math.round(12.4 * GiB),
      maxdisk: 100 * GiB,
      uptime: nowS - n.bootEpochS,
    };
  });
}

export function nodeStatus(cluster: LabCluster, n: LabNode, nowS: number): Json {
  const used = cluster.memUsedOn(n.name);
  const free = n.memTotalBytes - used;
  const cpu = cluster.cpuOn(n.name);
  const load = (cpu * n.cpus).toFixed(2);
  return {
    uptime: nowS - n.bootEpochS,
    idle: 0,
    wait: 0.0004,
    cpu,
    loadavg: [load, load, load],
    kversion: "Linux 6.14.11-4-pve #1 SMP PREEMPT_DYNAMIC PMX 6.14.11-4 (2025-10-10T08:04Z)",
    pveversion: `pve-manager/${cluster.version.version}/${cluster.version.repoid}`,
    "current-kernel": {
      sysname: "Linux",
      release: "6.14.11-4-pve",
      version: "#1 SMP PREEMPT_DYNAMIC PMX 6.14.11-4 (2025-10-10T08:04Z)",
      machine: "x86_64",
    },
    "boot-info": { mode: "efi", secureboot: 0 },
    cpuinfo: {
      model: n.cpuModel,
      cpus: n.cpus,
      cores: n.cpus,
      sockets: 1,
      mhz: "3000.000",
      hvm: "1",
      user_hz: 100,
      flags: "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr svm",
    },
    memory: { total: n.memTotalBytes, used, free, available: free },
    swap: { total: 8 * GiB, used: 0, free: 8 * GiB },
    ksm: { shared: 0 },
    rootfs: {
      total: 100 * GiB,
      used: Math.round(12.4 * GiB),
      free: Math.round(87.6 * GiB),
      avail: Math.round(82.5 * GiB),
    },
  };
}

// ---- guests --------------------------------------------------------------------------------------

export function guestList(cluster: LabCluster, node: string, type: "qemu" | "lxc", nowS: number): Json[] {
  return cluster
    .guestsOn(node)
    .filter((g) => g.type === type)
    .map((g) => {
      const up = uptime(g, nowS);
      const entry: Json = {
        vmid: g.vmid,
        name: g.name,
        status: g.status,
        cpus: g.cores,
        cpu: cluster.guestCpu(g),
        maxmem: g.memoryBytes,
        mem: cluster.guestMemUsed(g),
        maxdisk: g.disks[0]?.sizeBytes ?? 0,
        disk: 0,
        uptime: up,
        ...ioCounters(g, up),
        ...(g.template ? { template: 1 } : {}),
        ...(g.tags.length ? { tags: g.tags.join(";") } : {}),
        ...(g.lock !== undefined ? { lock: g.lock } : {}),
      };
      if (type === "qemu" && g.status === "running") entry.pid = 10_000 + g.vmid;
      if (type === "lxc") {
        entry.type = "lxc";
        entry.maxswap = 512 * MiB;
      }
      return entry;
    });
}

export function guestStatusCurrent(cluster: LabCluster, g: LabGuest, nowS: number): Json {
  const [entry] = guestList(cluster, g.node, g.type, nowS).filter((e) => e.vmid === g.vmid);
  const ha = haServiceFor(cluster, g);
  const haInfo = ha ? { managed: 1, state: ha.requestState } : { managed: 0 };
  const extra: Json =
    g.type === "qemu"
      ? {
          qmpstatus: g.status === "running" ? "running" : "stopped",
          agent: bit(g.agent),
          ...(g.status === "running"
            ? { "running-machine": "pc-i440fx-9.2+pve1", "running-qemu": "9.2.0" }
            : {}),
        }
      : { type: "lxc" };
  return { ...entry, ...extra, ha: haInfo };
}

function configDigest(conf: Json): string {
  const text = Object.entries(conf)
    .map(([k, v]) => `${k}: ${String(v)}`)
    .join("\n");
  return createHash("sha1").update(text).digest("hex");
}

export function guestConfig(g: LabGuest): Json {
  let conf: Json;
  if (g.rawConfig) {
    conf = { ...g.rawConfig };
    delete conf.digest;
    delete conf.lock;
  } else {
    conf = g.type === "qemu" ? qemuConfig(g) : lxcConfig(g);
    if (g.tags.length) conf.tags = g.tags.join(";");
    if (g.template) conf.template = 1;
  }
  if (g.lock !== undefined) conf.lock = g.lock;
  const sorted: Json = {};
  for (const k of Object.keys(conf).sort()) sorted[k] = conf[k];
  sorted.digest = configDigest(sorted);
  return sorted;
}

function qemuConfig(g: LabGuest): Json {
  const conf: Json = {
    boot: `order=${g.disks.map((d) => d.key).join(";")};ide2;net0`,
    cores: g.cores,
    cpu: "x86-64-v2-AES",
    ide2: "none,media=cdrom",
    memory: String(Math.round(g.memoryBytes / MiB)),
    meta: "creation-qemu=9.2.0,ctime=1735689600",
    name: g.name,
    net0: `virtio=${g.mac},bridge=vmbr0,firewall=1`,
    numa: 0,
    ostype: "l26",
    scsihw: "virtio-scsi-single",
    smbios1: `uuid=${g.uuid}`,
    sockets: 1,
    vmgenid: g.vmgenid,
  };
  if (g.agent) conf.agent = "1";
  for (const d of g.disks)
    conf[d.key] = `${d.storage}:${d.volume},iothread=1,size=${formatDiskSize(d.sizeBytes)}`;
  g.hostpci.forEach((dev, i) => {
    conf[`hostpci${i}`] = dev;
  });
  g.usb.forEach((dev, i) => {
    conf[`usb${i}`] = dev;
  });
  return conf;
}

function lxcConfig(g: LabGuest): Json {
  const conf: Json = {
    arch: "amd64",
    cores: g.cores,
    features: "nesting=1",
    hostname: g.name,
    memory: Math.round(g.memoryBytes / MiB),
    net0: `name=eth0,bridge=vmbr0,firewall=1,hwaddr=${g.mac},ip=dhcp,type=veth`,
    ostype: "debian",
    swap: 512,
    unprivileged: 1,
  };
  for (const d of g.disks) conf[d.key] = `${d.storage}:${d.volume},size=${formatDiskSize(d.sizeBytes)}`;
  return conf;
}

// ---- migration preconditions -----------------------------------------------------------------

/** Disks on storage that is not shared: what `local_disks` lists and what needs with-local-disks. */
export function localDisks(cluster: LabCluster, g: LabGuest) {
  return g.disks.filter((d) => !cluster.storage(d.storage)?.shared);
}

/** Devices tied to the host (`local_resources`). */
export function localResources(g: LabGuest): string[] {
  return [...g.hostpci.map((_, i) => `hostpci${i}`), ...g.usb.map((_, i) => `usb${i}`)];
}

/** Negative resource-affinity partners of a HA resource, by the node they run on. */
function blockingHaByNode(cluster: LabCluster, g: LabGuest): Map<string, { sid: string; cause: string }[]> {
  const out = new Map<string, { sid: string; cause: string }[]>();
  const ha = cluster.haOf(g.vmid);
  if (!ha) return out;
  for (const rule of cluster.haRules) {
    if (rule.disable || rule.type !== "resource-affinity" || rule.affinity !== "negative") continue;
    if (!rule.resources.includes(ha.sid)) continue;
    for (const other of rule.resources) {
      if (other === ha.sid) continue;
      const otherGuest = cluster.guest(Number(other.split(":")[1]));
      if (!otherGuest) continue;
      const list = out.get(otherGuest.node) ?? [];
      list.push({ sid: other, cause: "resource-affinity" });
      out.set(otherGuest.node, list);
    }
  }
  return out;
}

function dependentHa(cluster: LabCluster, g: LabGuest): string[] {
  const ha = cluster.haOf(g.vmid);
  if (!ha) return [];
  const deps = new Set<string>();
  for (const rule of cluster.haRules) {
    if (rule.disable || rule.type !== "resource-affinity" || rule.affinity !== "positive") continue;
    if (!rule.resources.includes(ha.sid)) continue;
    for (const r of rule.resources) if (r !== ha.sid) deps.add(r);
  }
  return [...deps].sort();
}

function notAllowed(cluster: LabCluster, g: LabGuest, storageKey: string) {
  const allowed: string[] = [];
  const notAllowedNodes: Record<string, Json> = {};
  const blocking = blockingHaByNode(cluster, g);
  for (const n of cluster.nodes) {
    if (n.name === g.node) continue;
    const reasons: Json = {};
    const missing = [...new Set(g.disks.map((d) => d.storage))].filter(
      (s) => !cluster.storageAvailableOn(s, n.name),
    );
    if (missing.length) reasons[storageKey] = missing;
    const b = blocking.get(n.name);
    if (b?.length) reasons["blocking-ha-resources"] = b;
    notAllowedNodes[n.name] = reasons;
    if (Object.keys(reasons).length === 0) allowed.push(n.name);
  }
  return { allowed, notAllowedNodes };
}

export function qemuMigratePrecondition(cluster: LabCluster, g: LabGuest): Json {
  const { allowed, notAllowedNodes } = notAllowed(cluster, g, "unavailable_storages");
  const ha = cluster.haOf(g.vmid);
  return {
    running: bit(g.status === "running"),
    allowed_nodes: allowed,
    not_allowed_nodes: notAllowedNodes,
    local_disks: localDisks(cluster, g).map((d) => ({
      volid: `${d.storage}:${d.volume}`,
      size: d.sizeBytes,
      drivename: d.key,
      cdrom: 0,
      is_unused: 0,
      is_attached: 1,
      is_tpmstate: 0,
      is_vmstate: 0,
      referenced_in_config: 1,
      replicate: 1,
      shared: 0,
    })),
    local_resources: localResources(g),
    "mapped-resources": [],
    "mapped-resource-info": {},
    "has-dbus-vmstate": 1,
    ...(ha ? { "dependent-ha-resources": dependentHa(cluster, g) } : {}),
  };
}

export function lxcMigratePrecondition(cluster: LabCluster, g: LabGuest): Json {
  const { allowed, notAllowedNodes } = notAllowed(cluster, g, "unavailable-storages");
  const ha = cluster.haOf(g.vmid);
  return {
    running: bit(g.status === "running"),
    "allowed-nodes": allowed,
    "not-allowed-nodes": notAllowedNodes,
    ...(ha ? { "dependent-ha-resources": dependentHa(cluster, g) } : {}),
  };
}

// ---- guest agent -----------------------------------------------------------------------------

/** What `network-get-interfaces` returns; the guest "lives" on 127.0.0.1 so probes reach its responder. */
export function agentNetworkInterfaces(g: LabGuest, address = "127.0.0.1"): Json {
  return {
    result: [
      {
        name: "lo",
        "hardware-address": "00:00:00:00:00:00",
        "ip-addresses": [{ "ip-address": "127.0.0.1", "ip-address-type": "ipv4", prefix: 8 }],
        statistics: { "rx-bytes": 0, "tx-bytes": 0, "rx-packets": 0, "tx-packets": 0 },
      },
      {
        name: "eth0",
        "hardware-address": g.mac.toLowerCase(),
        "ip-addresses": [{ "ip-address": address, "ip-address-type": "ipv4", prefix: 8 }],
        statistics: { "rx-bytes": 1_048_576, "tx-bytes": 524_288, "rx-packets": 900, "tx-packets": 700 },
      },
    ],
  };
}

// ---- HA ------------------------------------------------------------------------------------------

function ctime(epochS: number): string {
  // Perl's scalar localtime(): "Sat Nov 29 17:00:00 2025"
  const d = new Date(epochS * 1000);
  const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const p = (n: number) => String(n).padStart(2, "0");
  return `${days[d.getDay()]} ${months[d.getMonth()]} ${String(d.getDate()).padStart(2, " ")} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${d.getFullYear()}`;
}

function lrmMode(cluster: LabCluster, n: LabNode): { mode: string; state: string } {
  if (n.maintenance) return { mode: "maintenance", state: "maintenance" };
  const hasServices = [...cluster.ha.values()].some((r) => cluster.guest(r.vmid)?.node === n.name);
  return { mode: "active", state: hasServices ? "active" : "wait_for_agent_lock" };
}

function verboseState(cluster: LabCluster, sid: string): string {
  const r = cluster.ha.get(sid);
  if (!r) return "deleting";
  if (r.requestState === "ignored") return "ignored";
  if (r.state === "stopped" && r.requestState === "started") return "starting";
  if (r.state === "stopped" && r.requestState === "disabled") return "disabled";
  if (r.state === "started" && (r.requestState === "stopped" || r.requestState === "disabled"))
    return "stopping";
  return r.state;
}

export function haStatusCurrent(cluster: LabCluster, localNode: string, nowS: number): Json[] {
  const online = cluster.nodes.filter((n) => n.online).length;
  const quorate = online * 2 > cluster.nodes.length;
  const out: Json[] = [
    {
      id: "quorum",
      type: "quorum",
      node: localNode,
      status: quorate ? "OK" : `No quorum on node '${localNode}'!`,
      quorate: bit(quorate),
    },
  ];
  if (cluster.ha.size === 0) return out;
  const master = cluster.masterNode()?.name ?? localNode;
  out.push({
    id: "master",
    type: "master",
    node: master,
    status: `${master} (active, ${ctime(nowS)})`,
    timestamp: nowS,
  });
  out.push({
    id: "fencing",
    type: "fencing",
    node: master,
    status: "armed (CRM watchdog active)",
    "armed-state": "armed",
  });
  for (const n of [...cluster.nodes].sort((a, b) => a.name.localeCompare(b.name))) {
    if (!n.online) {
      out.push({
        id: `lrm:${n.name}`,
        type: "lrm",
        node: n.name,
        status: `${n.name} (old timestamp - dead?, watchdog standby, ${ctime(nowS - 120)})`,
        timestamp: nowS - 120,
      });
      continue;
    }
    const { mode, state } = lrmMode(cluster, n);
    const shown = mode !== "active" ? `${mode} mode` : state === "wait_for_agent_lock" ? "idle" : state;
    const wd = state === "active" || state === "maintenance" ? "watchdog active" : "watchdog standby";
    out.push({
      id: `lrm:${n.name}`,
      type: "lrm",
      node: n.name,
      status: `${n.name} (${shown}, ${wd}, ${ctime(nowS)})`,
      timestamp: nowS,
    });
  }
  for (const r of [...cluster.ha.values()].sort((a, b) => a.sid.localeCompare(b.sid))) {
    const node = cluster.guest(r.vmid)?.node ?? "---";
    const state = verboseState(cluster, r.sid);
    out.push({
      id: `service:${r.sid}`,
      type: "service",
      sid: r.sid,
      node,
      crm_state: r.state,
      state,
      status: `${r.sid} (${node}, ${state})`,
      request_state: r.requestState,
      max_restart: r.maxRestart,
      max_relocate: r.maxRelocate,
      failback: bit(r.failback),
      ...(r.comment !== undefined ? { comment: r.comment } : {}),
    });
  }
  return out;
}

export function haManagerStatus(cluster: LabCluster, localNode: string, nowS: number): Json {
  const online = cluster.nodes.filter((n) => n.online).length;
  const quorum = { node: localNode, quorate: online * 2 > cluster.nodes.length ? "1" : "0" };
  if (cluster.ha.size === 0) return { manager_status: {}, quorum };
  const nodeStatus: Record<string, string> = {};
  const nodeRequest: Record<string, Json> = {};
  const lrmStatus: Record<string, Json> = {};
  for (const n of cluster.nodes) {
    nodeStatus[n.name] = !n.online ? "unknown" : n.maintenance ? "maintenance" : "online";
    if (n.maintenance) nodeRequest[n.name] = { maintenance: "manual" };
    const { mode, state } = lrmMode(cluster, n);
    lrmStatus[n.name] = { mode, state, results: {}, timestamp: n.online ? nowS : nowS - 120 };
  }
  const serviceStatus: Record<string, Json> = {};
  for (const r of cluster.ha.values()) {
    const g = cluster.guest(r.vmid);
    serviceStatus[r.sid] = {
      node: g?.node ?? "",
      state: r.state,
      uid: r.uid,
      ...(r.state === "started" ? { running: 1 } : {}),
      ...(r.target !== undefined ? { target: r.target } : {}),
    };
  }
  return {
    manager_status: {
      master_node: cluster.masterNode()?.name ?? localNode,
      node_status: nodeStatus,
      ...(Object.keys(nodeRequest).length ? { node_request: nodeRequest } : {}),
      service_status: serviceStatus,
      timestamp: nowS,
    },
    lrm_status: lrmStatus,
    quorum,
  };
}

export function haResources(cluster: LabCluster, type?: string): Json[] {
  return [...cluster.ha.values()]
    .map((r) => {
      const rtype = r.sid.startsWith("ct:") ? "ct" : "vm";
      const conf: Json = {
        sid: r.sid,
        type: rtype,
        state: r.requestState,
        max_restart: r.maxRestart,
        max_relocate: r.maxRelocate,
        failback: bit(r.failback),
        ...(r.comment !== undefined ? { comment: r.comment } : {}),
      };
      conf.digest = configDigest(conf);
      return conf;
    })
    .filter((c) => type === undefined || c.type === type);
}

export function haRules(cluster: LabCluster, filter: { type?: string; resource?: string } = {}): Json[] {
  return cluster.haRules
    .filter((r) => filter.type === undefined || r.type === filter.type)
    .filter((r) => filter.resource === undefined || r.resources.includes(filter.resource))
    .map((r, i) => {
      const out: Json = {
        rule: r.rule,
        type: r.type,
        resources: r.resources.join(","),
        order: i + 1,
        ...(r.nodes ? { nodes: r.nodes.join(",") } : {}),
        ...(r.affinity ? { affinity: r.affinity } : {}),
        ...(r.strict !== undefined ? { strict: bit(r.strict) } : {}),
        ...(r.disable ? { disable: 1 } : {}),
        ...(r.comment !== undefined ? { comment: r.comment } : {}),
      };
      out.digest = configDigest(out);
      return out;
    });
}
