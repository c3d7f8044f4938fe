/**
 * Fault injection for the lab, from a plan given at start (CLI flags, a JSON file) or at runtime:
 *
 * - api-error        answer matching API calls with an error status (N times, or at a rate)
 * - api-delay        hold matching API calls for `ms` before answering (without `ms`: never answer)
 * - migration-fails  the next migration task(s) of a VMID fail: `aborted` (before the RAM phase) or
 *                    `problems` (during it); either way the VM stays where it was
 * - node-offline     the node is unreachable: its API answers 595, cluster status online 0
 * - vm-locked        the guest carries a config lock (`backup` by default)
 * - deny-privilege   the API token lacks a privilege: matching calls get 403
 *
 * Paths are API paths without /api2/json; `*` matches one path segment, `**` any rest.
 */
import { z } from "zod";
import type { LabCluster } from "./cluster.ts";

const Times = z.number().int().positive().optional();
const Method = z.enum(["GET", "POST", "PUT", "DELETE"]).optional();

export const FaultSpec = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("api-error"),
    path: z.string().startsWith("/"),
    method: Method,
    status: z.number().int().min(400).max(599).default(500),
    message: z.string().optional(),
    times: Times,
    /** Probability that one matching call fails (default 1). */
    rate: z.number().min(0).max(1).optional(),
  }),
  z.object({
    kind: z.literal("api-delay"),
    path: z.string().startsWith("/"),
    method: Method,
    /** Absent: the call is never answered (until the lab closes). */
    ms: z.number().int().nonnegative().optional(),
    times: Times,
  }),
  z.object({
    kind: z.literal("migration-fails"),
    vmid: z.number().int().min(100),
    mode: z.enum(["aborted", "problems"]).default("aborted"),
    times: Times,
  }),
  z.object({ kind: z.literal("node-offline"), node: z.string().min(1) }),
  z.object({
    kind: z.literal("vm-locked"),
    vmid: z.number().int().min(100),
    lock: z.string().default("backup"),
  }),
  z.object({
    kind: z.literal("deny-privilege"),
    privilege: z.string().min(1),
    /** ACL path such as /vms/101 or /nodes/node1; absent: everywhere. */
    path: z.string().optional(),
  }),
]);
export type FaultSpec = z.output<typeof FaultSpec>;
export type FaultSpecInput = z.input<typeof FaultSpec>;

/** A plan file holds an array of faults, or `{ "faults": [...] }`. */
export const FaultPlan = z.union([
  z.array(FaultSpec),
  z.object({ faults: z.array(FaultSpec) }).transform((p) => p.faults),
]);
export type FaultPlan = FaultSpecInput[];

export type ApiFaultAction =
  | { kind: "error"; status: number; message: string }
  | { kind: "delay"; ms?: number };

interface ActiveFault {
  id: number;
  spec: FaultSpec;
  remaining?: number;
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .split("/")
    .map((seg) =>
      seg === "**"
        ? ".*"
        : seg
            .split("*")
            .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
            .join("[^/]*"),
    )
    .join("/");
  return new RegExp(`^${body}$`);
}

/** Default reason phrases for injected statuses; 500 carries a PVE-style die message. */
const DEFAULT_MESSAGES: Record<number, string> = {
  500: "injected failure (lab fault)\n",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  595: "No route to host",
  596: "Broken pipe",
};

export class FaultController {
  private readonly active: ActiveFault[] = [];
  private nextId = 1;

  constructor(
    private readonly cluster: LabCluster,
    private readonly random: () => number = Math.random,
  ) {}

  /** Adds a fault; state faults (node-offline, vm-locked) take effect at once. Returns its id. */
  add(input: FaultSpecInput): number {
    const spec = FaultSpec.parse(input);
    const fault: ActiveFault = { id: this.nextId++, spec };
    if ("times" in spec && spec.times !== undefined) fault.remaining = spec.times;
    if (spec.kind === "node-offline") {
      if (!this.cluster.node(spec.node)) throw new Error(`lab fault: no node ${spec.node}`);
      this.cluster.setNodeOnline(spec.node, false);
    }
    if (spec.kind === "vm-locked") {
      if (!this.cluster.guest(spec.vmid)) throw new Error(`lab fault: no guest ${spec.vmid}`);
      this.cluster.setLock(spec.vmid, spec.lock);
    }
    this.active.push(fault);
    return fault.id;
  }

  /** Removes a fault and undoes its state change (node back online, lock cleared). */
  remove(id: number): boolean {
    const i = this.active.findIndex((f) => f.id === id);
    if (i < 0) return false;
    const [fault] = this.active.splice(i, 1);
    if (fault?.spec.kind === "node-offline") this.cluster.setNodeOnline(fault.spec.node, true);
    if (fault?.spec.kind === "vm-locked" && this.cluster.guest(fault.spec.vmid)?.lock === fault.spec.lock) {
      this.cluster.setLock(fault.spec.vmid, undefined);
    }
    return true;
  }

  clear(): void {
    for (const f of [...this.active]) this.remove(f.id);
  }

  list(): { id: number; spec: FaultSpec; remaining?: number }[] {
    return this.active.map((f) => ({ ...f }));
  }

  // Shorthands for tests and the demo.
  apiError(
    path: string,
    options: {
      status?: number;
      message?: string;
      times?: number;
      rate?: number;
      method?: "GET" | "POST" | "PUT" | "DELETE";
    } = {},
  ): number {
    return this.add({ kind: "api-error", path, ...options });
  }
  apiDelay(
    path: string,
    ms?: number,
    options: { times?: number; method?: "GET" | "POST" | "PUT" | "DELETE" } = {},
  ): number {
    return this.add({ kind: "api-delay", path, ...(ms !== undefined ? { ms } : {}), ...options });
  }
  failMigration(vmid: number, mode: "aborted" | "problems" = "aborted", times?: number): number {
    return this.add({ kind: "migration-fails", vmid, mode, ...(times !== undefined ? { times } : {}) });
  }
  nodeOffline(node: string): number {
    return this.add({ kind: "node-offline", node });
  }
  lockVm(vmid: number, lock = "backup"): number {
    return this.add({ kind: "vm-locked", vmid, lock });
  }
  denyPrivilege(privilege: string, path?: string): number {
    return this.add({ kind: "deny-privilege", privilege, ...(path !== undefined ? { path } : {}) });
  }

  /** What to do with one API call, if any fault matches it (consumes one of its `times`). */
  onApiRequest(method: string, path: string): ApiFaultAction | undefined {
    for (const f of this.active) {
      const s = f.spec;
      if (s.kind !== "api-error" && s.kind !== "api-delay") continue;
      if (s.method !== undefined && s.method !== method) continue;
      if (!globToRegExp(s.path).test(path)) continue;
      if (s.kind === "api-error" && s.rate !== undefined && this.random() >= s.rate) continue;
      if (!this.consume(f)) continue;
      if (s.kind === "api-error") {
        return {
          kind: "error",
          status: s.status,
          message: s.message ?? DEFAULT_MESSAGES[s.status] ?? "lab fault",
        };
      }
      return s.ms === undefined ? { kind: "delay" } : { kind: "delay", ms: s.ms };
    }
    return undefined;
  }

  /** Whether the migration task now starting for `vmid` must fail, and how. */
  migrationFailure(vmid: number): "aborted" | "problems" | undefined {
    for (const f of this.active) {
      if (f.spec.kind !== "migration-fails" || f.spec.vmid !== vmid) continue;
      if (this.consume(f)) return f.spec.mode;
    }
    return undefined;
  }

  /** Whether the token lacks `privilege` on ACL path `aclPath`. */
  denies(privilege: string, aclPath: string): boolean {
    return this.active.some(
      (f) =>
        f.spec.kind === "deny-privilege" &&
        f.spec.privilege === privilege &&
        (f.spec.path === undefined || f.spec.path === aclPath),
    );
  }

  private consume(f: ActiveFault): boolean {
    if (f.remaining === undefined) return true;
    if (f.remaining <= 0) return false;
    f.remaining--;
    if (f.remaining === 0) this.active.splice(this.active.indexOf(f), 1);
    return true;
  }
}

/**
 * The CLI's `--fault` syntax:
 *   api-error:<path>[:<status>][:times=N|rate=R]   api-delay:<path>[:<ms>]
 *   migration-fails:<vmid>[:aborted|problems]     node-offline:<node>
 *   vm-locked:<vmid>[:<lock>]                     deny:<privilege>[:<acl path>]
 */
export function parseFaultFlag(text: string): FaultSpecInput {
  const [kind, ...rest] = text.split(":");
  const options: Record<string, number> = {};
  const positional: string[] = [];
  for (const part of rest) {
    const m = /^(times|rate)=(.+)$/.exec(part);
    if (m) options[m[1] as string] = Number(m[2]);
    else positional.push(part);
  }
  const [a, b] = positional;
  const need = (v: string | undefined, what: string): string => {
    if (v === undefined || v === "") throw new Error(`--fault ${text}: missing ${what}`);
    return v;
  };
  const int = (v: string, what: string): number => {
    if (!/^\d+$/.test(v)) throw new Error(`--fault ${text}: ${what} must be a number, got "${v}"`);
    return Number(v);
  };
  let spec: FaultSpecInput;
  switch (kind) {
    case "api-error":
      spec = {
        kind,
        path: need(a, "API path"),
        ...(b !== undefined ? { status: int(b, "status") } : {}),
        ...options,
      };
      break;
    case "api-delay":
      spec = {
        kind,
        path: need(a, "API path"),
        ...(b !== undefined ? { ms: int(b, "delay (ms)") } : {}),
        ...options,
      };
      break;
    case "migration-fails":
      spec = {
        kind,
        vmid: int(need(a, "VMID"), "VMID"),
        ...(b !== undefined ? { mode: b as "aborted" } : {}),
        ...options,
      };
      break;
    case "node-offline":
      spec = { kind, node: need(a, "node name") };
      break;
    case "vm-locked":
      spec = { kind, vmid: int(need(a, "VMID"), "VMID"), ...(b !== undefined ? { lock: b } : {}) };
      break;
    case "deny":
    case "deny-privilege":
      spec = {
        kind: "deny-privilege",
        privilege: need(a, "privilege"),
        ...(b !== undefined ? { path: b } : {}),
      };
      break;
    default:
      throw new Error(
        `--fault ${text}: unknown kind "${kind}" (api-error, api-delay, migration-fails, node-offline, vm-locked, deny)`,
      );
  }
  const parsed = FaultSpec.safeParse(spec);
  if (!parsed.success) {
    throw new Error(
      `--fault ${text}: ${parsed.error.issues.map((i) => `${i.path.join(".") || "value"}: ${i.message}`).join("; ")}`,
    );
  }
  return spec;
}
