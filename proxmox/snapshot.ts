/**
 * Snapshot: a JSON file of raw PVE answers keyed by API path (no /api2/json, no query string), plus
 * `_meta`. Recorded from a live cluster, replayed read-only as a PveClient for planning, loaded into
 * the lab. Replay answers through the same bindings and schemas as the HTTP adapter (paths.ts) and
 * emulates the few query parameters PVE applies server-side, so callers cannot tell the difference
 * until they try to change something.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { ErrorCodes, PveApiError, UserError } from "../lib/errors.ts";
import {
  type ApiEnvelope,
  type ApiParams,
  apiPaths,
  bindPveClient,
  OPTIONAL_PATHS,
  type PveTransport,
  pathPatterns,
} from "./paths.ts";
import type { GuestRef, PveClient } from "./port.ts";

export const SNAPSHOT_FORMAT = "pve-evacuate-snapshot/1";

export const SnapshotMeta = z.object({
  format: z.literal(SNAPSHOT_FORMAT),
  recordedAt: z.iso.datetime({ offset: true }),
  /** `host:port` the snapshot was recorded from. */
  source: z.string(),
});
export type SnapshotMeta = z.infer<typeof SnapshotMeta>;

const PATH_KEY = /^\/[^?#\s]*$/;

export const Snapshot = z.looseObject({ _meta: SnapshotMeta }).superRefine((value, ctx) => {
  for (const key of Object.keys(value)) {
    if (key !== "_meta" && !PATH_KEY.test(key)) {
      ctx.addIssue({
        code: "custom",
        path: [key],
        message: "keys are API paths starting with / without a query string",
      });
    }
  }
});
export type Snapshot = z.infer<typeof Snapshot>;

/** GET one API path, answering PVE's raw `data`. */
export type RawGet = (path: string) => Promise<unknown>;

export interface RecordOptions {
  /** `host:port` written to `_meta.source`. */
  source?: string;
  now?: () => Date;
  /** Parallel per-node/per-guest requests. */
  concurrency?: number;
  /** A path left out: node offline, privilege missing, endpoint absent on this PVE. */
  onSkip?: (path: string, reason: string) => void;
}

interface RawNode {
  node: string;
  status?: unknown;
}

function rawNodes(data: unknown): RawNode[] {
  if (!Array.isArray(data)) return [];
  return data.filter(
    (n): n is RawNode => typeof n === "object" && n !== null && typeof (n as RawNode).node === "string",
  );
}

function rawGuests(data: unknown): GuestRef[] {
  if (!Array.isArray(data)) return [];
  const guests: GuestRef[] = [];
  for (const r of data) {
    if (typeof r !== "object" || r === null) continue;
    const { type, node, vmid } = r as { type?: unknown; node?: unknown; vmid?: unknown };
    if ((type === "qemu" || type === "lxc") && typeof node === "string" && typeof vmid === "number") {
      guests.push({ type, node, vmid });
    }
  }
  return guests.sort((a, b) => a.vmid - b.vmid);
}

async function inLanes<T>(items: readonly T[], lanes: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(lanes, items.length)) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  });
  await Promise.all(workers);
}

/**
 * Records every path of the snapshot contract. The cluster-wide paths are required (their failure is
 * thrown); per-node, per-guest and HA paths that PVE refuses are left out and reported via onSkip.
 */
export async function recordSnapshot(
  from: RawGet | { rawGet: RawGet; source?: string },
  options: RecordOptions = {},
): Promise<Snapshot> {
  const get: RawGet = typeof from === "function" ? from : (path) => from.rawGet(path);
  const source = options.source ?? (typeof from === "function" ? undefined : from.source) ?? "unknown";
  const skip = options.onSkip ?? (() => {});
  const lanes = options.concurrency ?? 4;
  const answers = new Map<string, unknown>();

  const optional = async (path: string): Promise<void> => {
    try {
      answers.set(path, await get(path));
    } catch (e) {
      if (!(e instanceof PveApiError)) throw e;
      skip(path, e.detail.status === 501 ? "not available on this PVE version" : e.message);
    }
  };

  const required = [
    apiPaths.version(),
    apiPaths.clusterStatus(),
    apiPaths.clusterResources(),
    apiPaths.nodes(),
  ];
  const requiredData = await Promise.all(required.map((p) => get(p)));
  required.forEach((p, i) => {
    answers.set(p, requiredData[i]);
  });
  for (const p of [apiPaths.haStatusCurrent(), apiPaths.haManagerStatus(), apiPaths.haRules()]) {
    await optional(p);
  }

  const nodes = rawNodes(answers.get(apiPaths.nodes()));
  const online = new Set(nodes.filter((n) => n.status === "online").map((n) => n.node));
  const planned: string[] = [];
  for (const n of nodes) {
    const path = apiPaths.nodeStatus(n.node);
    if (online.has(n.node)) planned.push(path);
    else skip(path, `node ${n.node} is ${String(n.status ?? "not online")}`);
  }
  for (const g of rawGuests(answers.get(apiPaths.clusterResources()))) {
    const paths = [apiPaths.guestConfig(g), ...(g.type === "qemu" ? [apiPaths.migrate(g)] : [])];
    if (online.has(g.node)) planned.push(...paths);
    else for (const p of paths) skip(p, `node ${g.node} is not online`);
  }
  await inLanes(planned, lanes, optional);

  const ordered = [...required, apiPaths.haStatusCurrent(), apiPaths.haManagerStatus(), apiPaths.haRules()];
  const snapshot: Record<string, unknown> = {
    _meta: { format: SNAPSHOT_FORMAT, recordedAt: (options.now?.() ?? new Date()).toISOString(), source },
  };
  for (const p of [...ordered, ...planned]) if (answers.has(p)) snapshot[p] = answers.get(p);
  return parseSnapshot(snapshot, "the recorded snapshot");
}

/** Validates a parsed JSON value; `origin` names it in the error (a file name). */
export function parseSnapshot(value: unknown, origin: string): Snapshot {
  const meta = (value as { _meta?: { format?: unknown } } | null)?._meta;
  if (typeof value !== "object" || value === null || Array.isArray(value) || meta === undefined) {
    throw new UserError(
      ErrorCodes.SnapshotInvalid,
      `${origin} is not a pve-evacuate snapshot (no "_meta" object).`,
      "Record one with: pve-evacuate snapshot --out FILE",
    );
  }
  if (meta?.format !== SNAPSHOT_FORMAT) {
    throw new UserError(
      ErrorCodes.SnapshotInvalid,
      `${origin} has snapshot format ${JSON.stringify(meta?.format)}, this version reads "${SNAPSHOT_FORMAT}".`,
      "Record it again with this version: pve-evacuate snapshot --out FILE",
    );
  }
  const parsed = Snapshot.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.map(String).join(".") || "(root)"}: ${i.message}`)
      .join("; ");
    throw new UserError(ErrorCodes.SnapshotInvalid, `${origin} is not a valid snapshot: ${issues}.`);
  }
  return parsed.data;
}

export function loadSnapshotFile(file: string): Snapshot {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "unreadable";
    throw new UserError(
      ErrorCodes.SnapshotInvalid,
      `Cannot read the snapshot file ${file} (${code}).`,
      code === "ENOENT" ? "Check the path, or record one with: pve-evacuate snapshot --out FILE" : undefined,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UserError(ErrorCodes.SnapshotInvalid, `${file} is not JSON: ${(e as Error).message}.`);
  }
  return parseSnapshot(value, file);
}

// ---- replay: PVE's server-side query handling, applied to the recorded lists ----

type Row = Record<string, unknown>;

function num(params: ApiParams | undefined, key: string): number | undefined {
  const v = params?.[key];
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

function filterResources(rows: Row[], type: string | undefined): Row[] {
  if (type === undefined) return rows;
  if (type === "vm") return rows.filter((r) => r.type === "qemu" || r.type === "lxc");
  return rows.filter((r) => r.type === type);
}

function pageLog(rows: Row[], params: ApiParams | undefined): ApiEnvelope {
  const start = num(params, "start") ?? 0;
  const limit = num(params, "limit") ?? 50;
  const lines = rows.slice(start, limit > 0 ? start + limit : undefined);
  return { data: lines, total: rows.length };
}

function filterTasks(rows: Row[], params: ApiParams | undefined): Row[] {
  const vmid = num(params, "vmid");
  const typefilter = params?.typefilter;
  const since = num(params, "since");
  const source = String(params?.source ?? "archive");
  const start = num(params, "start") ?? 0;
  const limit = num(params, "limit") ?? 50;
  const active = (r: Row) => r.endtime === undefined;
  const kept = rows.filter(
    (r) =>
      (vmid === undefined || r.id === String(vmid)) &&
      (typefilter === undefined || r.type === typefilter) &&
      (since === undefined || (typeof r.starttime === "number" && r.starttime >= since)) &&
      (source === "all" || (source === "active" ? active(r) : !active(r))),
  );
  return kept.slice(start, limit > 0 ? start + limit : undefined);
}

function rowsOf(data: unknown): Row[] {
  return Array.isArray(data) ? (data as Row[]) : [];
}

/** A transport answering GETs from the snapshot; anything that would change the cluster is refused. */
export function snapshotTransport(snapshot: Snapshot): PveTransport {
  const offline = new Set(
    rawNodes(snapshot[apiPaths.nodes()])
      .filter((n) => n.status !== "online")
      .map((n) => n.node),
  );

  function missing(path: string): never {
    if (OPTIONAL_PATHS.includes(path)) {
      // Absent because the recorded PVE did not have it: answer as that PVE would.
      throw new PveApiError({
        method: "GET",
        path,
        status: 501,
        pveMessage: `Method 'GET ${path}' not implemented`,
      });
    }
    const node = /^\/nodes\/([^/]+)\//.exec(path)?.[1];
    if (node !== undefined && offline.has(decodeURIComponent(node))) {
      throw new PveApiError({
        method: "GET",
        path,
        status: 595,
        pveMessage: `no route to host (node ${decodeURIComponent(node)} was offline when the snapshot was recorded)`,
      });
    }
    throw new UserError(
      ErrorCodes.SnapshotMissingPath,
      `The snapshot (recorded ${snapshot._meta.recordedAt} from ${snapshot._meta.source}) has no answer for GET ${path}.`,
      "Record a fresh snapshot (pve-evacuate snapshot --out FILE) or run against the live cluster.",
    );
  }

  return {
    async request(method, path, params) {
      if (method !== "GET") {
        throw new UserError(
          ErrorCodes.SnapshotReadOnly,
          `A snapshot is read-only: cannot ${method} ${path}.`,
          "Changing the cluster (migrations, stopping tasks) needs the live cluster or the lab.",
        );
      }
      if (!Object.hasOwn(snapshot, path) || path === "_meta") missing(path);
      const data: unknown = structuredClone(snapshot[path]);
      if (path === apiPaths.clusterResources()) {
        const type = params?.type;
        return { data: filterResources(rowsOf(data), type === undefined ? undefined : String(type)) };
      }
      if (pathPatterns.taskLog.test(path)) return pageLog(rowsOf(data), params);
      if (pathPatterns.nodeTasks.test(path)) return { data: filterTasks(rowsOf(data), params) };
      return { data };
    },
  };
}

/** A read-only PveClient over a snapshot: same schemas as the live client; changes throw a UserError. */
export function createReplayClient(snapshot: Snapshot): PveClient {
  return bindPveClient(snapshotTransport(snapshot));
}
