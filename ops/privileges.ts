/**
 * The Proxmox VE privileges the API token needs, in one place: `doctor` checks them, the README quotes
 * them. Derived from the `permissions` of every endpoint PveClient calls (proxmox/paths.ts), as the
 * PVE 9.1 API schema declares them:
 *
 *   GET  /cluster/resources                          user: all, but lists only guests with VM.Audit
 *                                                     and nodes with Sys.Audit
 *   GET  /cluster/status, /cluster/ha/status/*,
 *        /cluster/ha/rules                           Sys.Audit on /
 *   GET  /nodes/{node}/status                        Sys.Audit on /nodes/{node}
 *   GET  /nodes/{node}/{qemu|lxc}/{vmid}/config      VM.Audit on /vms/{vmid}
 *   GET|POST /nodes/{node}/{qemu|lxc}/{vmid}/migrate VM.Migrate on /vms/{vmid}
 *   GET  .../qemu/{vmid}/agent/network-get-interfaces
 *                                                     VM.GuestAgent.Audit or .Unrestricted (PVE 9),
 *                                                     VM.Monitor (PVE 8)
 *   GET  /nodes/{node}/tasks, .../tasks/{upid}/status|log
 *                                                     own tasks always; others' (HA starts the real
 *                                                     qmigrate as root@pam) need Sys.Audit on /nodes/{node}
 *   DELETE /nodes/{node}/tasks/{upid}                own tasks always; others' need Sys.Modify on
 *                                                     /nodes/{node}
 *
 * Pure: no I/O. The effective-permission tree comes from GET /access/permissions.
 */

export interface PrivilegeRequirement {
  /** ACL path the privilege must hold on; `/vms` and `/nodes` must propagate to the guests and nodes. */
  path: "/" | "/nodes" | "/vms";
  /** Any one of these satisfies the requirement. */
  anyOf: readonly string[];
  /** required: the tool cannot evacuate without it; recommended: one feature degrades. */
  level: "required" | "recommended";
  /** Only on these PVE major releases (the privilege set changed in PVE 9). */
  pveMajors?: { min?: number; max?: number };
  /** What it is used for, in the operator's words. */
  why: string;
  /** Allows far more than this tool uses: left out of the suggested role, granted only on purpose. */
  broad?: boolean;
}

export const PRIVILEGE_REQUIREMENTS: readonly PrivilegeRequirement[] = [
  {
    path: "/vms",
    anyOf: ["VM.Audit"],
    level: "required",
    why: "the guest list and guest configurations",
  },
  {
    path: "/vms",
    anyOf: ["VM.Migrate"],
    level: "required",
    why: "migration pre-checks and the migration itself",
  },
  {
    path: "/vms",
    anyOf: ["VM.GuestAgent.Audit", "VM.GuestAgent.Unrestricted"],
    level: "recommended",
    pveMajors: { min: 9 },
    why: "guest-agent addresses for the QoS probe (a probe-<address> tag works without)",
  },
  {
    path: "/vms",
    anyOf: ["VM.Monitor"],
    level: "recommended",
    pveMajors: { max: 8 },
    why: "guest-agent addresses for the QoS probe (a probe-<address> tag works without)",
  },
  {
    path: "/nodes",
    anyOf: ["Sys.Audit"],
    level: "required",
    why: "node status, and status and log of the migration tasks HA starts as root@pam",
  },
  {
    path: "/",
    anyOf: ["Sys.Audit"],
    level: "required",
    why: "cluster status (quorum, nodes online), HA status and rules",
  },
  {
    path: "/nodes",
    anyOf: ["Sys.Modify"],
    level: "recommended",
    why: "aborting a running migration that HA started (cancel with abort); own tasks need nothing",
    broad: true,
  },
];

/** The requirements that apply to a PVE major release (all of them when it is unknown). */
export function requirementsFor(pveMajor: number | undefined): PrivilegeRequirement[] {
  return PRIVILEGE_REQUIREMENTS.filter((r) => {
    if (pveMajor === undefined || r.pveMajors === undefined) return true;
    return (
      (r.pveMajors.min === undefined || pveMajor >= r.pveMajors.min) &&
      (r.pveMajors.max === undefined || pveMajor <= r.pveMajors.max)
    );
  });
}

/** GET /access/permissions: ACL path → privilege → propagate (PVE sends 1/0). */
export type PermissionTree = Readonly<Record<string, Readonly<Record<string, number | boolean>>>>;

export type RequirementStatus =
  /** Held on the path itself, propagating to what is below. */
  | "ok"
  /** Held on the path, but without propagation: guests/nodes below do not inherit it. */
  | "not-propagated"
  /** Not on the path, but on some paths below it (single guests, pools): only those work. */
  | "partial"
  | "missing";

export interface RequirementResult {
  requirement: PrivilegeRequirement;
  status: RequirementStatus;
  /** For `partial`: where the privilege is held. */
  grantedOn?: string[];
}

function holds(privs: Readonly<Record<string, number | boolean>> | undefined, anyOf: readonly string[]) {
  if (!privs) return undefined;
  for (const p of anyOf) {
    const v = privs[p];
    if (v !== undefined) return { propagate: v === true || v === 1 };
  }
  return undefined;
}

function below(parent: string, path: string): boolean {
  return parent === "/" ? path !== "/" : path.startsWith(`${parent}/`);
}

export function checkRequirement(tree: PermissionTree, r: PrivilegeRequirement): RequirementResult {
  const here = holds(tree[r.path], r.anyOf);
  // On `/` the checks are on `/` itself; below it every check is on a child path.
  if (here && (here.propagate || r.path === "/")) return { requirement: r, status: "ok" };
  if (here) return { requirement: r, status: "not-propagated" };
  const grantedOn = Object.keys(tree)
    .filter((p) => below(r.path, p) && holds(tree[p], r.anyOf))
    .sort();
  return grantedOn.length > 0
    ? { requirement: r, status: "partial", grantedOn }
    : { requirement: r, status: "missing" };
}

export function checkPrivileges(tree: PermissionTree, pveMajor: number | undefined): RequirementResult[] {
  return requirementsFor(pveMajor).map((r) => checkRequirement(tree, r));
}

/** `VM.GuestAgent.Audit|VM.GuestAgent.Unrestricted on /vms` */
export function describeRequirement(r: PrivilegeRequirement): string {
  return `${r.anyOf.join(" or ")} on ${r.path}`;
}

/**
 * Commands that create a role with the needed privileges and grant it to the token on `/` (it
 * propagates to /nodes and /vms). A privilege-separated token gets its own ACL; its user needs the
 * same privileges too, because a token never has more than its user. `broad` privileges are left out.
 */
export function pveumCommands(tokenId: string, pveMajor: number | undefined, role = "PveEvacuate"): string[] {
  const privs = [
    ...new Set(
      requirementsFor(pveMajor ?? 9)
        .filter((r) => !r.broad)
        .map((r) => r.anyOf[0] as string),
    ),
  ];
  const user = tokenId.split("!")[0] ?? tokenId;
  return [
    `pveum role add ${role} --privs "${privs.join(",")}"`,
    `pveum acl modify / --users '${user}' --roles ${role}`,
    `pveum acl modify / --tokens '${tokenId}' --roles ${role}`,
  ];
}

/** Markdown table of the requirements, for the README. */
export function privilegeTableMarkdown(): string {
  const rows = PRIVILEGE_REQUIREMENTS.map((r) => {
    const when =
      r.pveMajors === undefined
        ? ""
        : r.pveMajors.min !== undefined
          ? ` (PVE ${r.pveMajors.min}+)`
          : ` (PVE ${r.pveMajors.max} and older)`;
    return `| \`${r.path}\` | ${r.anyOf.map((p) => `\`${p}\``).join(" or ")}${when} | ${r.level} | ${r.why} |`;
  });
  return ["| Path | Privilege | Level | Used for |", "|---|---|---|---|", ...rows].join("\n");
}
