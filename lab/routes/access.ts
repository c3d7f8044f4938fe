/**
 * GET /access/permissions: the caller's effective privileges per ACL path, map path → privilege →
 * propagate (1/0). The lab's token holds every privilege on `/` with propagation (like Administrator);
 * a `deny-privilege` fault takes one away on its path and, as an ACL on that path would, below it.
 * Without `path` PVE dumps its default top-level paths plus every path an ACL names, leaving out
 * paths without any privilege; with `path` it answers for that one path.
 */
import { LabApiError } from "../apiErrors.ts";
import type { FaultController } from "../faults.ts";
import { answer, type Route } from "../router.ts";

/** PVE 9's privileges (VM.Monitor was split into VM.GuestAgent.* and Sys.Audit in 9.0). */
const PVE9_PRIVILEGES = [
  "Datastore.Allocate",
  "Datastore.AllocateSpace",
  "Datastore.AllocateTemplate",
  "Datastore.Audit",
  "Group.Allocate",
  "Mapping.Audit",
  "Mapping.Modify",
  "Mapping.Use",
  "Permissions.Modify",
  "Pool.Allocate",
  "Pool.Audit",
  "Realm.Allocate",
  "Realm.AllocateUser",
  "SDN.Allocate",
  "SDN.Audit",
  "SDN.Use",
  "Sys.AccessNetwork",
  "Sys.Audit",
  "Sys.Console",
  "Sys.Incoming",
  "Sys.Modify",
  "Sys.PowerMgmt",
  "Sys.Syslog",
  "User.Modify",
  "VM.Allocate",
  "VM.Audit",
  "VM.Backup",
  "VM.Clone",
  "VM.Config.CDROM",
  "VM.Config.CPU",
  "VM.Config.Cloudinit",
  "VM.Config.Disk",
  "VM.Config.HWType",
  "VM.Config.Memory",
  "VM.Config.Network",
  "VM.Config.Options",
  "VM.Console",
  "VM.GuestAgent.Audit",
  "VM.GuestAgent.FileRead",
  "VM.GuestAgent.FileSystemMgmt",
  "VM.GuestAgent.FileWrite",
  "VM.GuestAgent.Unrestricted",
  "VM.Migrate",
  "VM.PowerMgmt",
  "VM.Replicate",
  "VM.Snapshot",
  "VM.Snapshot.Rollback",
] as const;

const PVE8_PRIVILEGES = [
  ...PVE9_PRIVILEGES.filter((p) => !p.startsWith("VM.GuestAgent.")),
  "VM.Monitor",
].sort();

const DEFAULT_PATHS = ["/", "/access", "/access/groups", "/nodes", "/pool", "/sdn", "/storage", "/vms"];

/** `/vms/101` → `/`, `/vms`, `/vms/101`. */
function selfAndAncestors(path: string): string[] {
  const parts = path.split("/").filter((s) => s.length > 0);
  return ["/", ...parts.map((_, i) => `/${parts.slice(0, i + 1).join("/")}`)];
}

function effective(faults: FaultController, privileges: readonly string[], path: string) {
  const chain = selfAndAncestors(path);
  const out: Record<string, number> = {};
  for (const p of privileges) {
    if (!chain.some((acl) => faults.denies(p, acl))) out[p] = 1;
  }
  return out;
}

export const accessRoutes: Route[] = [
  {
    method: "GET",
    path: "/access/permissions",
    params: { path: { type: "string", optional: true }, userid: { type: "string", optional: true } },
    handler: ({ rt, params, authId }) => {
      const userid = params.userid === undefined ? authId : String(params.userid);
      // A token may read its own permissions and its user's; anyone else's needs Sys.Audit on /access.
      if (userid !== authId && userid !== authId.split("!")[0] && rt.faults.denies("Sys.Audit", "/access")) {
        throw new LabApiError(403, "Permission check failed (/access, Sys.Audit)\n");
      }
      if (userid !== authId && userid !== authId.split("!")[0]) return answer({});
      const major = Number.parseInt(rt.cluster.version.release, 10);
      const privileges = major < 9 ? PVE8_PRIVILEGES : PVE9_PRIVILEGES;
      if (params.path !== undefined) {
        const path = String(params.path);
        return answer({ [path]: effective(rt.faults, privileges, path) });
      }
      const aclPaths = rt.faults
        .list()
        .flatMap((f) => (f.spec.kind === "deny-privilege" && f.spec.path !== undefined ? [f.spec.path] : []));
      const tree: Record<string, Record<string, number>> = {};
      for (const path of new Set([...DEFAULT_PATHS, ...aclPaths])) {
        const privs = effective(rt.faults, privileges, path);
        if (Object.keys(privs).length > 0) tree[path] = privs;
      }
      return answer(tree);
    },
  },
];
