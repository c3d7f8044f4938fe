import { describe, expect, it } from "vitest";
import { MigrationPolicy } from "../config/schema.ts";
import { HaManagerStatus, MigratePrecondition } from "../proxmox/schemas.ts";
import type { ClusterData } from "./clusterData.ts";
import {
  buildClusterView,
  configVolumes,
  type PreconditionView,
  parseMemoryMiB,
  parseTags,
  pveReasons,
} from "./clusterView.ts";
import { guestBlockers } from "./constraints.ts";
import { buildClusterData } from "./fixtures/build.ts";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

const base = () =>
  buildClusterData({
    nodes: [
      { name: "node1", memGiB: 32, usedGiB: 8 },
      { name: "node2", memGiB: 32, usedGiB: 16 },
      { name: "node3", memGiB: 32, usedGiB: 0 },
    ],
    guests: [{ vmid: 101, node: "node1", memMiB: 2048 }],
  });

function withManagerStatus(data: ClusterData, raw: unknown): ClusterData {
  return { ...data, haManagerStatus: HaManagerStatus.parse(raw) };
}

describe("parsing helpers", () => {
  it("reads memory as a number or a property string", () => {
    expect(parseMemoryMiB(2048)).toBe(2048);
    expect(parseMemoryMiB("4096")).toBe(4096);
    expect(parseMemoryMiB("current=8192")).toBe(8192);
    expect(parseMemoryMiB("current=1024,foo=1")).toBe(1024);
    expect(parseMemoryMiB(undefined)).toBeUndefined();
    expect(parseMemoryMiB("lots")).toBeUndefined();
  });

  it("splits tags on ; , and spaces, lower-cased, sorted, unique", () => {
    expect(parseTags("Prod;pinned, web  web")).toEqual(["pinned", "prod", "web"]);
    expect(parseTags(undefined)).toEqual([]);
  });

  it("finds the storages of disk keys and what is bound to the host", () => {
    const v = configVolumes({
      scsi0: "ceph:vm-101-disk-0,size=32G,discard=on",
      virtio1: "file=local-lvm:vm-101-disk-1,size=8G",
      efidisk0: "local-lvm:vm-101-disk-2,efitype=4m,size=4M",
      tpmstate0: "ceph:vm-101-disk-3,size=4M,version=v2.0",
      ide2: "none,media=cdrom",
      ide0: "local:iso/debian.iso,media=cdrom",
      sata0: "/dev/disk/by-id/ata-X",
      ide3: "cdrom,media=cdrom",
      net0: "virtio=AA:BB:CC:DD:EE:FF,bridge=vmbr0",
      unused0: "local-lvm:vm-101-disk-9",
      mp0: "/srv/shared,mp=/data,shared=1",
      mp1: "/srv/private,mp=/private",
      rootfs: "local-zfs:subvol-101-disk-0,size=8G",
      memory: 2048,
    });
    expect(v.volumes.map((x) => [x.key, x.storage, x.cdrom])).toEqual([
      ["efidisk0", "local-lvm", false],
      ["ide0", "local", true],
      ["rootfs", "local-zfs", false],
      ["scsi0", "ceph", false],
      ["tpmstate0", "ceph", false],
      ["virtio1", "local-lvm", false],
    ]);
    expect(v.hostBound).toEqual([
      "ide3 (host CD/DVD drive)",
      "mp1 (host path /srv/private)",
      "sata0 (host path /dev/disk/by-id/ata-X)",
    ]);
  });
});

describe("buildClusterView", () => {
  it("builds nodes with memory, storages and state", () => {
    const view = buildClusterView(base());
    expect(view.quorate).toBe(true);
    expect(view.nodes.map((n) => [n.name, n.online, n.quorate, n.maintenance, n.memoryFreeBytes])).toEqual([
      ["node1", true, true, false, 24 * GiB],
      ["node2", true, true, false, 16 * GiB],
      ["node3", true, true, false, 32 * GiB],
    ]);
    expect(view.nodes[0]?.storages).toEqual(["ceph", "local", "local-lvm"]);
  });

  it("falls back to /cluster/resources memory when a node status is missing", () => {
    const data = base();
    delete data.nodeStatus.node2;
    expect(buildClusterView(data).nodes[1]?.memoryFreeBytes).toBe(16 * GiB);
  });

  it("reads maintenance from each signal PVE offers", () => {
    const data = base();
    const sample = {
      manager_status: {
        node_status: { node1: "online", node2: "maintenance", node3: "online" },
        master_node: "node1",
        service_status: {},
      },
    };
    const byNodeStatus = buildClusterView(withManagerStatus(data, sample));
    expect(byNodeStatus.nodes.map((n) => n.maintenance)).toEqual([false, true, false]);

    const byRequest = buildClusterView(
      withManagerStatus(data, { manager_status: { node_request: { node3: { maintenance: 1 } } } }),
    );
    expect(byRequest.nodes[2]?.maintenanceReason).toMatch(/requested/);

    const byLrm = buildClusterView(
      withManagerStatus(data, { lrm_status: { node1: { mode: "maintenance" } } }),
    );
    expect(byLrm.nodes[0]?.maintenance).toBe(true);

    const byResources = buildClusterView(
      buildClusterData({
        nodes: [
          { name: "node1", memGiB: 8 },
          { name: "node2", memGiB: 8, maintenance: true },
        ],
        guests: [],
      }),
    );
    expect(byResources.nodes[1]?.maintenance).toBe(true);
  });

  it("marks every node not quorate when the cluster lost quorum", () => {
    const view = buildClusterView(buildClusterData({ ...specOf(), quorate: false }));
    expect(view.quorate).toBe(false);
    expect(view.nodes.every((n) => !n.quorate)).toBe(true);
  });

  it("describes guests: memory, tags, HA, storages", () => {
    const data = buildClusterData({
      nodes: [{ name: "node1", memGiB: 8 }],
      guests: [
        { vmid: 101, node: "node1", memMiB: 2048, tags: ["web"], ha: "started", lock: "backup" },
        { vmid: 102, node: "node1" },
        {
          vmid: 200,
          node: "node1",
          type: "lxc",
          memMiB: 512,
          disks: { rootfs: "local-lvm:vm-200-disk-0,size=8G" },
        },
      ],
    });
    const [vm, noMem, ct] = buildClusterView(data).guests;
    expect(vm).toMatchObject({
      vmid: 101,
      type: "qemu",
      status: "running",
      memoryBytes: 2 * GiB,
      tags: ["web"],
      lock: "backup",
      ha: { sid: "vm:101", state: "started" },
      storages: ["ceph"],
      localDisks: [],
      precondition: { allowedNodes: [] },
    });
    expect(noMem?.memoryBytes).toBe(512 * MiB);
    expect(ct).toMatchObject({
      type: "lxc",
      storages: ["local-lvm"],
      localDisks: [{ volid: "local-lvm:vm-200-disk-0" }],
    });
    expect(ct?.precondition).toBeUndefined();
  });

  it("turns PVE's not-allowed reasons into words (qemu underscores and lxc dashes)", () => {
    const data = base();
    data.preconditions["101"] = MigratePrecondition.parse({
      running: 1,
      allowed_nodes: ["node3"],
      not_allowed_nodes: {
        node2: {
          unavailable_storages: ["fast"],
          "unavailable-resources": ["gpu-map"],
          "blocking-ha-resources": [{ sid: "vm:105", cause: "resource-affinity" }],
        },
        node3: {},
      },
      local_disks: [{ volid: "local:iso/x.iso", cdrom: 1, is_unused: 0 }],
      local_resources: ["hostpci0", "usb0"],
      "mapped-resources": ["hostpci0"],
      "mapped-resource-info": { hostpci0: { "live-migration": 1 } },
    });
    const g = buildClusterView(data).guests[0];
    expect(g?.precondition?.allowedNodes).toEqual(["node3"]);
    expect(pveReasons(g?.precondition as PreconditionView, "node2")).toEqual([
      "storage fast not available there",
      "mapped resource gpu-map not available there",
      "HA resource vm:105 there is in negative affinity with it",
    ]);
    expect(pveReasons(g?.precondition as PreconditionView, "node3")).toEqual([]);
    expect(g?.localResources).toEqual(["usb0"]);
    expect(g?.mappedResources).toEqual([{ id: "hostpci0", liveMigration: true }]);
    const reasons = guestBlockers(g as NonNullable<typeof g>, "live", MigrationPolicy.parse({}));
    expect(reasons[0]).toMatch(/local resource usb0/);
    expect(reasons[1]).toMatch(/local CD\/DVD image local:iso\/x.iso/);
  });

  it("does not block on a local cloud-init drive, and blocks non-live mapped devices", () => {
    const data = base();
    data.preconditions["101"] = MigratePrecondition.parse({
      running: 1,
      local_disks: [{ volid: "local-lvm:vm-101-cloudinit", cdrom: 1 }],
      local_resources: ["hostpci0"],
      "mapped-resources": ["hostpci0"],
    });
    const g = buildClusterView(data).guests[0] as NonNullable<
      ReturnType<typeof buildClusterView>["guests"][0]
    >;
    const policy = MigrationPolicy.parse({});
    expect(guestBlockers(g, "live", policy)).toEqual([
      expect.stringMatching(/mapped device hostpci0 cannot be live-migrated/),
    ]);
    expect(guestBlockers(g, "offline", policy)).toEqual([]);
  });

  it("reads lxc devices and bind mounts as local resources", () => {
    const data = buildClusterData({
      nodes: [{ name: "node1", memGiB: 8 }],
      guests: [
        {
          vmid: 200,
          node: "node1",
          type: "lxc",
          disks: { rootfs: "ceph:vm-200-disk-0", mp0: "/mnt/media,mp=/media" },
          extraConfig: { dev0: "/dev/dri/renderD128" },
        },
      ],
    });
    expect(buildClusterView(data).guests[0]?.localResources).toEqual(["dev0", "mp0 (host path /mnt/media)"]);
  });

  it("parses HA rules and drops disabled ones", () => {
    const data = base();
    data.haRules = [
      { rule: "b", type: "node-affinity", resources: "vm:101,102", nodes: "node1:2,node2", strict: true },
      { rule: "a", type: "resource-affinity", resources: "vm:101,ct:200", affinity: "negative" },
      { rule: "c", type: "resource-affinity", resources: "vm:101", affinity: "positive", disable: true },
      { rule: "d", type: "something-new", resources: "vm:101" },
    ];
    expect(buildClusterView(data).rules).toEqual([
      { kind: "resource-affinity", rule: "a", resources: ["vm:101", "ct:200"], affinity: "negative" },
      {
        kind: "node-affinity",
        rule: "b",
        resources: ["vm:101", "vm:102"],
        nodes: [
          { node: "node1", priority: 2 },
          { node: "node2", priority: 0 },
        ],
        strict: true,
      },
    ]);
  });
});

function specOf() {
  return {
    nodes: [
      { name: "node1", memGiB: 8 },
      { name: "node2", memGiB: 8 },
    ],
    guests: [],
  };
}
