/**
 * PveClient: the only shape of the Proxmox VE API the rest of the tool sees. It exposes capabilities,
 * never a connection. Implementations: the HTTP adapter (proxmox-api, real cluster or lab) and the
 * snapshot replay client (read-only). Everything returned is already parsed by the schemas.
 */
import type {
  AgentInterface,
  ClusterResource,
  ClusterStatusEntry,
  GuestConfig,
  GuestType,
  HaManagerStatus,
  HaRule,
  HaStatusEntry,
  MigratePrecondition,
  NodeStatus,
  TaskListEntry,
  TaskLogLine,
  TaskStatus,
} from "./schemas.ts";

export interface GuestRef {
  node: string;
  type: GuestType;
  vmid: number;
}

export interface StartMigrationRequest extends GuestRef {
  target: string;
  /** qemu only: live migration of a running VM. */
  online?: boolean;
  /** lxc only: restart migration (the container goes down). */
  restart?: boolean;
  withLocalDisks?: boolean;
  /** Bandwidth limit in KiB/s, as PVE expects. */
  bwlimitKiB?: number;
}

export interface TaskLogPage {
  lines: TaskLogLine[];
  total: number;
}

export interface TaskListQuery {
  vmid?: number;
  typefilter?: string;
  source?: "archive" | "active" | "all";
  limit?: number;
  since?: number;
}

export interface PveClient {
  clusterResources(type?: "vm" | "node" | "storage"): Promise<ClusterResource[]>;
  clusterStatus(): Promise<ClusterStatusEntry[]>;
  nodeStatus(node: string): Promise<NodeStatus>;
  guestConfig(ref: GuestRef): Promise<GuestConfig>;
  migratePrecondition(ref: GuestRef, target?: string): Promise<MigratePrecondition>;
  /** POSTs once; never retried. Resolves to the UPID of the task PVE started. */
  startMigration(req: StartMigrationRequest): Promise<string>;
  taskStatus(node: string, upid: string): Promise<TaskStatus>;
  /** `start` is 0-based like PVE's parameter; `limit` 0 = all. */
  taskLog(node: string, upid: string, page?: { start?: number; limit?: number }): Promise<TaskLogPage>;
  nodeTasks(node: string, query?: TaskListQuery): Promise<TaskListEntry[]>;
  stopTask(node: string, upid: string): Promise<void>;
  agentNetworkInterfaces(ref: GuestRef): Promise<AgentInterface[]>;
  haStatusCurrent(): Promise<HaStatusEntry[]>;
  haManagerStatus(): Promise<HaManagerStatus>;
  /** PVE 9 rules; an empty list on older PVE where the endpoint does not exist. */
  haRules(): Promise<HaRule[]>;
}
