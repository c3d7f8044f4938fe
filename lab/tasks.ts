/**
 * The lab's task registry: PVE worker tasks with real UPIDs, a log that grows line by line, a status
 * that flips to `stopped` with an exit status, and the node task list with PVE's filters and paging.
 * Semantics follow PVE::API2::Tasks: log `start`/`limit` (limit 0 = everything, `no content` for an
 * empty log, `total`), task list `source` archive|active|all (running tasks only in active/all, with
 * status RUNNING), token users split into `user` + `tokenid`.
 */
import { formatUpid } from "../proxmox/upid.ts";

export interface LabTask {
  upid: string;
  node: string;
  pid: number;
  pstart: number;
  /** Unix seconds. */
  starttime: number;
  type: string;
  id: string;
  /** As the UPID holds it: `user@realm` or `user@realm!token`. */
  user: string;
  lines: string[];
  endtime?: number;
  /** "OK", "WARNINGS: n" or the error text; set when the task stops. */
  exitstatus?: string;
  /** Called on DELETE /nodes/{node}/tasks/{upid} (PVE sends the worker SIGTERM). */
  onStop?: () => void;
}

export interface TaskSpec {
  node: string;
  type: string;
  id: string;
  user: string;
  /** ticks since the node booted, as PVE's pstart (clock ticks, 100 Hz) */
  nodeBootEpochS: number;
}

export interface TaskListQuery {
  start?: number;
  limit?: number;
  vmid?: number;
  typefilter?: string;
  userfilter?: string;
  source?: "archive" | "active" | "all";
  since?: number;
  until?: number;
  errors?: boolean;
  statusfilter?: string;
  /** Without Sys.Audit on the node a caller sees only its own tasks. */
  owner?: string;
}

/** PVE::Tools::upid_normalize_status_type */
function statusType(status: string | undefined): "ok" | "warning" | "error" | "unknown" {
  if (status === undefined || status === "RUNNING") return "unknown";
  if (status === "OK") return "ok";
  if (/^WARNINGS: \d+$/.test(status)) return "warning";
  return status === "unknown" ? "unknown" : "error";
}

/** PVE's representation of a task owner: a token id is split into user and tokenid. */
function ownerFields(user: string): { user: string; tokenid?: string } {
  const bang = user.indexOf("!");
  return bang < 0 ? { user } : { user: user.slice(0, bang), tokenid: user.slice(bang + 1) };
}

/** The fields every task answer shares (status, list, cluster list), as PVE names them. */
function listEntry(t: LabTask) {
  return {
    upid: t.upid,
    node: t.node,
    pid: t.pid,
    pstart: t.pstart,
    starttime: t.starttime,
    type: t.type,
    id: t.id,
    ...ownerFields(t.user),
  };
}

export class TaskRegistry {
  private readonly tasks = new Map<string, LabTask>();
  private nextPid = 0x3a_100;

  constructor(private readonly now: () => number = Date.now) {}

  start(spec: TaskSpec): LabTask {
    const nowMs = this.now();
    const starttime = Math.floor(nowMs / 1000);
    const pid = this.nextPid;
    this.nextPid += 1 + (pid % 13);
    const pstart = Math.max(1, Math.floor((nowMs / 1000 - spec.nodeBootEpochS) * 100));
    const upid = formatUpid({
      node: spec.node,
      pid,
      pstart,
      starttime,
      type: spec.type,
      id: spec.id,
      user: spec.user,
    });
    const task: LabTask = {
      upid,
      node: spec.node,
      pid,
      pstart,
      starttime,
      type: spec.type,
      id: spec.id,
      user: spec.user,
      lines: [],
    };
    this.tasks.set(upid, task);
    return task;
  }

  get(upid: string): LabTask | undefined {
    return this.tasks.get(upid);
  }

  running(task: LabTask): boolean {
    return task.exitstatus === undefined;
  }

  /** Appends lines (a text with newlines is split, as PVE writes the worker's output line by line). */
  log(task: LabTask, text: string): void {
    if (!this.running(task)) return;
    for (const line of text.split("\n")) task.lines.push(line);
  }

  /** Ends the task: the final `TASK ...` line, status stopped, end time. */
  finish(task: LabTask, exitstatus: string): void {
    if (!this.running(task)) return;
    if (exitstatus === "OK") task.lines.push("TASK OK");
    else if (/^WARNINGS: \d+$/.test(exitstatus)) task.lines.push(`TASK ${exitstatus}`);
    else task.lines.push(`TASK ERROR: ${exitstatus}`);
    task.exitstatus = exitstatus;
    task.endtime = Math.floor(this.now() / 1000);
    delete task.onStop;
  }

  stop(task: LabTask): void {
    if (this.running(task)) task.onStop?.();
  }

  /** GET .../tasks/{upid}/status */
  status(task: LabTask) {
    return {
      ...listEntry(task),
      status: this.running(task) ? "running" : "stopped",
      ...(task.exitstatus !== undefined ? { exitstatus: task.exitstatus } : {}),
    };
  }

  /** GET .../tasks/{upid}/log: `start` is 0-based, `n` 1-based; limit 0 reads to the end. */
  readLog(task: LabTask, start = 0, limit = 50): { lines: { n: number; t: string }[]; total: number } {
    const all = task.lines;
    const end = limit === 0 ? all.length : Math.min(all.length, start + limit);
    const lines = [];
    for (let i = start; i < end; i++) lines.push({ n: i + 1, t: all[i] as string });
    if (all.length === 0) return { lines: [{ n: 1, t: "no content" }], total: 1 };
    return { lines, total: all.length };
  }

  /** GET /nodes/{node}/tasks: running tasks first (active/all), then finished ones newest first. */
  list(node: string, q: TaskListQuery = {}): { tasks: Record<string, unknown>[]; total: number } {
    const source = q.source ?? "archive";
    const start = q.start ?? 0;
    let limit = q.limit ?? 50;
    let count = 0;
    const allowed = this.statusFilter(q);
    const res: Record<string, unknown>[] = [];
    const accept = (t: LabTask, status: string | undefined): boolean => {
      if (q.owner !== undefined && t.user !== q.owner) return false;
      if (q.userfilter && !t.user.toLowerCase().includes(q.userfilter.toLowerCase())) return false;
      if (q.typefilter && t.type !== q.typefilter) return false;
      if (q.vmid !== undefined && t.id !== String(q.vmid)) return false;
      if (q.since !== undefined && t.starttime < q.since) return false;
      if (q.until !== undefined && t.starttime > q.until) return false;
      if (!allowed.has(statusType(status))) return false;
      if (count++ < start) return false;
      return limit > 0;
    };
    const newestFirst = [...this.tasks.values()]
      .filter((t) => t.node === node)
      .sort((a, b) => b.starttime - a.starttime || b.pid - a.pid);
    const entry = (t: LabTask, status: string | undefined) => ({
      ...listEntry(t),
      ...(t.endtime !== undefined ? { endtime: t.endtime } : {}),
      ...(status !== undefined ? { status } : {}),
    });
    if (source === "active" || source === "all") {
      for (const t of newestFirst.filter((x) => this.running(x))) {
        if (accept(t, undefined)) {
          res.push(entry(t, "RUNNING"));
          limit--;
        }
      }
    }
    if (source !== "active") {
      for (const t of newestFirst.filter((x) => !this.running(x))) {
        if (accept(t, t.exitstatus)) {
          res.push(entry(t, t.exitstatus));
          limit--;
        }
      }
    }
    return { tasks: res, total: count };
  }

  /** GET /cluster/tasks: recent tasks of every node, running ones included. */
  recent(limit = 50): Record<string, unknown>[] {
    return [...this.tasks.values()]
      .sort((a, b) => b.starttime - a.starttime || b.pid - a.pid)
      .slice(0, limit)
      .map((t) => ({
        ...listEntry(t),
        ...(t.endtime !== undefined ? { endtime: t.endtime, status: t.exitstatus } : {}),
        saved: t.endtime !== undefined ? "1" : "0",
      }));
  }

  private statusFilter(q: TaskListQuery): Set<string> {
    if (q.statusfilter !== undefined && !q.errors) {
      return new Set(
        q.statusfilter
          .split(/[,;\s]+/)
          .filter(Boolean)
          .map((s) => s.toLowerCase()),
      );
    }
    return new Set(q.errors ? ["warning", "error", "unknown"] : ["ok", "warning", "error", "unknown"]);
  }
}
