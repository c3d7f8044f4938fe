/**
 * The one mapping between PveClient methods and the PVE REST API: which request each method makes and
 * which schema parses its answer. The HTTP adapter and the snapshot replay both bind a PveClient here,
 * so they cannot drift apart; they differ only in the transport that answers the raw requests.
 */
import { z } from "zod";
import { ErrorCodes, PveApiError } from "../lib/errors.ts";
import type { GuestRef, PveClient, StartMigrationRequest, TaskListQuery } from "./port.ts";
import {
  AgentNetworkInterfaces,
  ClusterResources,
  ClusterStatus,
  GuestConfig,
  HaManagerStatus,
  HaRules,
  HaStatusCurrent,
  MigratePrecondition,
  NodeStatus,
  TaskList,
  TaskLog,
  TaskStatus,
} from "./schemas.ts";
import { parseUpid } from "./upid.ts";

export type HttpMethod = "GET" | "POST" | "DELETE";
export type QueryValue = string | number | boolean;
export type ApiParams = Readonly<Record<string, QueryValue | undefined>>;

/** The body PVE wraps every answer in; `total` comes with paged lists such as task logs. */
export interface ApiEnvelope {
  data: unknown;
  total?: number;
}

/** Answers raw API requests: the HTTP adapter (PVE or the lab) or a snapshot. */
export interface PveTransport {
  /** `path` has no /api2/json prefix and no query string; `params` go to the query (GET) or body. */
  request(method: HttpMethod, path: string, params?: ApiParams): Promise<ApiEnvelope>;
}

/** Path segments are percent-encoded once here (UPIDs hold `:` and `@`), so keys and URLs agree. */
function seg(value: string | number): string {
  return encodeURIComponent(String(value));
}

function guestBase(ref: GuestRef): string {
  return `/nodes/${seg(ref.node)}/${ref.type}/${seg(ref.vmid)}`;
}

export const apiPaths = {
  version: () => "/version",
  clusterStatus: () => "/cluster/status",
  clusterResources: () => "/cluster/resources",
  nodes: () => "/nodes",
  nodeStatus: (node: string) => `/nodes/${seg(node)}/status`,
  guestConfig: (ref: GuestRef) => `${guestBase(ref)}/config`,
  migrate: (ref: GuestRef) => `${guestBase(ref)}/migrate`,
  agentNetworkInterfaces: (ref: GuestRef) => `${guestBase(ref)}/agent/network-get-interfaces`,
  nodeTasks: (node: string) => `/nodes/${seg(node)}/tasks`,
  task: (node: string, upid: string) => `/nodes/${seg(node)}/tasks/${seg(upid)}`,
  taskStatus: (node: string, upid: string) => `/nodes/${seg(node)}/tasks/${seg(upid)}/status`,
  taskLog: (node: string, upid: string) => `/nodes/${seg(node)}/tasks/${seg(upid)}/log`,
  haStatusCurrent: () => "/cluster/ha/status/current",
  haManagerStatus: () => "/cluster/ha/status/manager_status",
  haRules: () => "/cluster/ha/rules",
} as const;

/** Paths that older PVE releases do not have (PVE answers 501); their absence is not an error. */
export const OPTIONAL_PATHS: readonly string[] = [apiPaths.haRules()];

/** Recognises the parametrised paths a snapshot replay has to interpret (query emulation). */
export const pathPatterns = {
  taskLog: /^\/nodes\/[^/]+\/tasks\/[^/]+\/log$/,
  nodeTasks: /^\/nodes\/[^/]+\/tasks$/,
} as const;

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.length > 0 ? i.path.join(".") : "(root)"}: ${i.message}`)
    .join("; ");
}

export function parseResponse<S extends z.ZodType>(
  schema: S,
  data: unknown,
  method: HttpMethod,
  path: string,
): z.output<S> {
  const parsed = schema.safeParse(data);
  if (parsed.success) return parsed.data;
  throw new PveApiError(
    {
      method,
      path,
      status: 200,
      pveMessage: `the answer does not have the expected shape (${describeIssues(parsed.error)}); is this a supported PVE version?`,
    },
    ErrorCodes.PveResponseInvalid,
  );
}

function migrationParams(req: StartMigrationRequest): ApiParams {
  const bwlimit = req.bwlimitKiB !== undefined && req.bwlimitKiB > 0 ? req.bwlimitKiB : undefined;
  if (req.type === "qemu") {
    return {
      target: req.target,
      online: req.online === undefined ? undefined : req.online ? 1 : 0,
      "with-local-disks": req.withLocalDisks === undefined ? undefined : req.withLocalDisks ? 1 : 0,
      bwlimit,
    };
  }
  return {
    target: req.target,
    restart: req.restart === undefined ? undefined : req.restart ? 1 : 0,
    bwlimit,
  };
}

function taskListParams(query: TaskListQuery | undefined): ApiParams | undefined {
  if (!query) return undefined;
  return {
    vmid: query.vmid,
    typefilter: query.typefilter,
    source: query.source,
    limit: query.limit,
    since: query.since,
  };
}

/** Builds a PveClient over any transport: every answer parsed by its schema, typed errors throughout. */
export function bindPveClient(transport: PveTransport): PveClient {
  async function get<S extends z.ZodType>(schema: S, path: string, params?: ApiParams): Promise<z.output<S>> {
    const { data } = await transport.request("GET", path, params);
    return parseResponse(schema, data, "GET", path);
  }

  return {
    clusterResources: (type) =>
      get(ClusterResources, apiPaths.clusterResources(), type ? { type } : undefined),
    clusterStatus: () => get(ClusterStatus, apiPaths.clusterStatus()),
    nodeStatus: (node) => get(NodeStatus, apiPaths.nodeStatus(node)),
    guestConfig: (ref) => get(GuestConfig, apiPaths.guestConfig(ref)),
    migratePrecondition: (ref, target) =>
      get(MigratePrecondition, apiPaths.migrate(ref), target ? { target } : undefined),

    async startMigration(req) {
      const path = apiPaths.migrate(req);
      const { data } = await transport.request("POST", path, migrationParams(req));
      if (typeof data !== "string") return parseResponse(z.string(), data, "POST", path);
      try {
        parseUpid(data);
      } catch {
        // The migration has most likely started: say so, with the raw answer, instead of a parse error.
        throw new PveApiError(
          {
            method: "POST",
            path,
            status: 200,
            pveMessage: `PVE accepted the migration but answered "${data}", which is not a task id (UPID); check the task list of node ${req.node}.`,
          },
          ErrorCodes.PveResponseInvalid,
        );
      }
      return data;
    },

    taskStatus: (node, upid) => get(TaskStatus, apiPaths.taskStatus(node, upid)),

    async taskLog(node, upid, page) {
      const path = apiPaths.taskLog(node, upid);
      // Omitted paging means the whole log: PVE's own default (50 lines) silently truncates.
      const envelope = await transport.request("GET", path, {
        start: page?.start ?? 0,
        limit: page?.limit ?? 0,
      });
      const lines = parseResponse(TaskLog, envelope.data, "GET", path);
      return { lines, total: envelope.total ?? lines.length };
    },

    nodeTasks: (node, query) => get(TaskList, apiPaths.nodeTasks(node), taskListParams(query)),

    async stopTask(node, upid) {
      await transport.request("DELETE", apiPaths.task(node, upid));
    },

    async agentNetworkInterfaces(ref) {
      const answer = await get(AgentNetworkInterfaces, apiPaths.agentNetworkInterfaces(ref));
      return answer.result;
    },

    haStatusCurrent: () => get(HaStatusCurrent, apiPaths.haStatusCurrent()),
    haManagerStatus: () => get(HaManagerStatus, apiPaths.haManagerStatus()),

    async haRules() {
      try {
        return await get(HaRules, apiPaths.haRules());
      } catch (e) {
        if (e instanceof PveApiError && e.detail.status === 501) return [];
        throw e;
      }
    },
  };
}
