/**
 * zod schemas for every PVE API response the tool reads. PVE sends booleans as 0/1 and adds fields
 * between releases, so objects are parsed leniently (unknown keys kept) while the fields we use are
 * checked strictly. One name for schema and type.
 */
import { z } from "zod";

/** PVE booleans arrive as 0/1 (sometimes as JSON booleans from newer endpoints). */
export const PveBool = z
  .union([z.literal(0), z.literal(1), z.boolean()])
  .transform((v) => v === 1 || v === true);
export type PveBool = z.input<typeof PveBool>;

export const GuestType = z.enum(["qemu", "lxc"]);
export type GuestType = z.infer<typeof GuestType>;

export const ClusterResource = z.looseObject({
  id: z.string(),
  type: z.string(),
  node: z.string().optional(),
  vmid: z.number().int().optional(),
  name: z.string().optional(),
  status: z.string().optional(),
  template: PveBool.optional(),
  maxmem: z.number().optional(),
  mem: z.number().optional(),
  maxcpu: z.number().optional(),
  cpu: z.number().optional(),
  maxdisk: z.number().optional(),
  disk: z.number().optional(),
  uptime: z.number().optional(),
  hastate: z.string().optional(),
  lock: z.string().optional(),
  tags: z.string().optional(),
  pool: z.string().optional(),
  storage: z.string().optional(),
  shared: PveBool.optional(),
  content: z.string().optional(),
  level: z.string().optional(),
});
export type ClusterResource = z.infer<typeof ClusterResource>;
export const ClusterResources = z.array(ClusterResource);

export const ClusterStatusEntry = z.looseObject({
  type: z.enum(["cluster", "node"]),
  id: z.string(),
  name: z.string(),
  nodeid: z.number().int().optional(),
  ip: z.string().optional(),
  online: PveBool.optional(),
  local: PveBool.optional(),
  level: z.string().optional(),
  quorate: PveBool.optional(),
  nodes: z.number().int().optional(),
  version: z.number().int().optional(),
});
export type ClusterStatusEntry = z.infer<typeof ClusterStatusEntry>;
export const ClusterStatus = z.array(ClusterStatusEntry);

export const NodeStatus = z.looseObject({
  cpu: z.number(),
  uptime: z.number().optional(),
  pveversion: z.string().optional(),
  memory: z.looseObject({
    total: z.number(),
    used: z.number(),
    free: z.number(),
    available: z.number().optional(),
  }),
});
export type NodeStatus = z.infer<typeof NodeStatus>;

/** VM/CT config: a flat map of option → value (`memory: 2048`, `scsi0: "local-lvm:vm-101-disk-0,size=32G"`). */
export const GuestConfig = z.record(z.string(), z.union([z.string(), z.number()]));
export type GuestConfig = z.infer<typeof GuestConfig>;

export const LocalDisk = z.looseObject({
  volid: z.string(),
  size: z.number().optional(),
  cdrom: PveBool.optional(),
  is_unused: PveBool.optional(),
  is_tpmstate: PveBool.optional(),
  is_vmstate: PveBool.optional(),
  replicate: PveBool.optional(),
  drivename: z.string().optional(),
});
export type LocalDisk = z.infer<typeof LocalDisk>;

export const BlockingHaResource = z.looseObject({ sid: z.string(), cause: z.string() });

/** Reasons a node is not allowed; `{}` for nodes that are allowed. qemu uses underscores, lxc (9.0+) dashes. */
export const NotAllowedReason = z.looseObject({
  unavailable_storages: z.array(z.string()).optional(),
  "unavailable-storages": z.array(z.string()).optional(),
  "unavailable-resources": z.array(z.string()).optional(),
  "blocking-ha-resources": z.array(BlockingHaResource).optional(),
});
export type NotAllowedReason = z.infer<typeof NotAllowedReason>;

export const MigratePrecondition = z.looseObject({
  running: PveBool,
  /** Older PVE (< 8.4) omits the node lists for running VMs. */
  allowed_nodes: z.array(z.string()).optional(),
  "allowed-nodes": z.array(z.string()).optional(),
  not_allowed_nodes: z.record(z.string(), NotAllowedReason).optional(),
  "not-allowed-nodes": z.record(z.string(), NotAllowedReason).optional(),
  local_disks: z.array(LocalDisk).optional(),
  "local-disks": z.array(LocalDisk).optional(),
  local_resources: z.array(z.string()).optional(),
  "local-resources": z.array(z.string()).optional(),
  "mapped-resources": z.array(z.string()).optional(),
  "dependent-ha-resources": z.array(z.string()).optional(),
  /** lxc (9.0+) name for the HA resources moved along by a positive resource-affinity rule. */
  "comigrated-ha-resources": z.array(z.string()).optional(),
  /** 8.3+: mapped resource → details such as `{"live-migration": 1}`; local_resources also lists these. */
  "mapped-resource-info": z.record(z.string(), z.unknown()).optional(),
});
export type MigratePrecondition = z.infer<typeof MigratePrecondition>;

export const Upid = z
  .string()
  .regex(/^UPID:[^:]+:[0-9A-F]{8}:[0-9A-F]{8,9}:[0-9A-F]{8}:[^:]*:[^:]*:[^:]*:$/, {
    message: "not a PVE UPID",
  });

export const TaskStatus = z.looseObject({
  upid: z.string(),
  node: z.string(),
  pid: z.number().int(),
  pstart: z.number().int(),
  starttime: z.number().int(),
  type: z.string(),
  id: z.string(),
  user: z.string(),
  status: z.enum(["running", "stopped"]),
  exitstatus: z.string().optional(),
});
export type TaskStatus = z.infer<typeof TaskStatus>;

export const TaskLogLine = z.object({ n: z.number().int(), t: z.string() });
export type TaskLogLine = z.infer<typeof TaskLogLine>;
export const TaskLog = z.array(TaskLogLine);

export const TaskListEntry = z.looseObject({
  upid: z.string(),
  node: z.string(),
  pid: z.number().int(),
  pstart: z.number().int(),
  starttime: z.number().int(),
  type: z.string(),
  id: z.string(),
  user: z.string(),
  status: z.string().optional(),
  endtime: z.number().int().optional(),
});
export type TaskListEntry = z.infer<typeof TaskListEntry>;
export const TaskList = z.array(TaskListEntry);

export const AgentIpAddress = z.looseObject({
  "ip-address": z.string(),
  "ip-address-type": z.enum(["ipv4", "ipv6"]),
  prefix: z.number().int().optional(),
});
export const AgentInterface = z.looseObject({
  name: z.string(),
  "hardware-address": z.string().optional(),
  "ip-addresses": z.array(AgentIpAddress).optional(),
});
export type AgentInterface = z.infer<typeof AgentInterface>;
export const AgentNetworkInterfaces = z.looseObject({ result: z.array(AgentInterface) });

export const HaStatusEntry = z.looseObject({
  id: z.string(),
  type: z.string(),
  node: z.string().optional(),
  status: z.string().optional(),
  sid: z.string().optional(),
  state: z.string().optional(),
  crm_state: z.string().optional(),
  request_state: z.string().optional(),
  quorate: PveBool.optional(),
});
export type HaStatusEntry = z.infer<typeof HaStatusEntry>;
export const HaStatusCurrent = z.array(HaStatusEntry);

export const HaManagerStatus = z.looseObject({
  manager_status: z
    .looseObject({
      master_node: z.string().optional(),
      node_status: z.record(z.string(), z.string()).optional(),
      node_request: z.record(z.string(), z.looseObject({ maintenance: z.unknown().optional() })).optional(),
      service_status: z
        .record(
          z.string(),
          z.looseObject({ node: z.string(), state: z.string(), target: z.string().optional() }),
        )
        .optional(),
    })
    .optional(),
  lrm_status: z.record(z.string(), z.looseObject({ mode: z.string().optional() })).optional(),
  quorum: z.looseObject({ quorate: z.union([z.string(), z.number()]).optional() }).optional(),
});
export type HaManagerStatus = z.infer<typeof HaManagerStatus>;

/** PVE 9 HA rules (`/cluster/ha/rules`): node-affinity and resource-affinity. */
export const HaRule = z.looseObject({
  rule: z.string(),
  type: z.string(),
  resources: z.string().optional(),
  nodes: z.string().optional(),
  affinity: z.string().optional(),
  strict: PveBool.optional(),
  disable: PveBool.optional(),
});
export type HaRule = z.infer<typeof HaRule>;
export const HaRules = z.array(HaRule);
