/**
 * preCheck: the checklist run against fresh cluster data right before one migration. The plan was made
 * minutes ago on RRD-stale figures; this is the last look before PVE is asked. Any `fail` means the
 * migration must not start; `warn` is shown but does not stop it.
 */
import type { MigrationPolicy } from "../config/schema.ts";
import { renderBytes } from "../lib/bytes.ts";
import type { ClusterView } from "./clusterView.ts";
import { haSid } from "./clusterView.ts";
import {
  AffinityIndex,
  attachedLocalDisks,
  guestBlockers,
  missingStorages,
  nodeUnavailable,
  preconditionRefusal,
  reservedBytes,
} from "./constraints.ts";
import type { PlannedMove } from "./plan.ts";

export type CheckStatus = "pass" | "warn" | "fail";

export type CheckName =
  | "guest-on-source"
  | "guest-state"
  | "not-locked"
  | "guest-movable"
  | "cluster-quorate"
  | "target-online"
  | "target-fits"
  | "target-storage"
  | "precondition"
  | "ha-affinity";

export interface CheckItem {
  name: CheckName;
  status: CheckStatus;
  reason: string;
}

export interface Checklist {
  vmid: number;
  target: string;
  /** No item failed: the migration may start. */
  ok: boolean;
  items: CheckItem[];
}

/** What a check needs from a move; a planned move and a worker job both fit. */
export type MoveToCheck = Pick<
  PlannedMove,
  "vmid" | "type" | "source" | "target" | "mode" | "memoryBytes"
> & {
  withLocalDisks?: boolean;
};

const STATE_WANTED = { live: "running", restart: "running", offline: "stopped" } as const;

export function preCheck(view: ClusterView, move: MoveToCheck, policy: MigrationPolicy): Checklist {
  const items: CheckItem[] = [];
  const add = (name: CheckName, status: CheckStatus, reason: string) => {
    items.push({ name, status, reason });
  };

  add(
    "cluster-quorate",
    view.quorate ? "pass" : "fail",
    view.quorate ? "cluster is quorate" : "cluster is not quorate: PVE refuses changes until quorum is back",
  );

  const target = view.nodes.find((n) => n.name === move.target);
  if (!target) add("target-online", "fail", `node ${move.target} is no longer in the cluster`);
  else {
    const why = nodeUnavailable(target);
    add(
      "target-online",
      why ? "fail" : "pass",
      why ? `${target.name} is ${why}` : `${target.name} is online`,
    );
  }

  const guest = view.guests.find((g) => g.vmid === move.vmid);
  if (!guest) {
    add("guest-on-source", "fail", `guest ${move.vmid} no longer exists in the cluster`);
    return { vmid: move.vmid, target: move.target, ok: false, items };
  }
  if (guest.node !== move.source)
    add(
      "guest-on-source",
      "fail",
      guest.node === move.target
        ? `already on ${guest.node} (moved outside this evacuation, or by HA)`
        : `now on ${guest.node}, not on ${move.source}: plan again`,
    );
  else add("guest-on-source", "pass", `on ${move.source}`);

  const wanted = STATE_WANTED[move.mode];
  add(
    "guest-state",
    guest.status === wanted ? "pass" : "fail",
    guest.status === wanted
      ? guest.status
      : `${guest.status} now, but planned as a ${move.mode} move of a ${wanted} guest: plan again`,
  );

  add(
    "not-locked",
    guest.lock ? "fail" : "pass",
    guest.lock
      ? `locked ('${guest.lock}'): wait until that operation ends, or clear a stale lock with 'qm unlock ${guest.vmid}'`
      : "no lock",
  );

  const blockers = guestBlockers(guest, move.mode, policy);
  const disks = move.mode === "live" ? attachedLocalDisks(guest) : [];
  if (blockers.length > 0) add("guest-movable", "fail", blockers.join("; "));
  else if (disks.length > 0 && move.withLocalDisks !== true)
    add(
      "guest-movable",
      "fail",
      `has local disk ${disks.map((d) => d.volid).join(", ")} that the plan did not expect: plan again`,
    );
  else add("guest-movable", "pass", "no local resources or disks in the way");

  if (target) {
    const need = reservedBytes(guest.memoryBytes, move.mode);
    const after = target.memoryFreeBytes - need;
    const figures = `${renderBytes(target.memoryFreeBytes)} free, needs ${renderBytes(need)} + ${renderBytes(policy.headroomBytes)} headroom`;
    if (need === 0) add("target-fits", "pass", "moves stopped: claims no memory on the target");
    else if (after >= policy.headroomBytes) add("target-fits", "pass", figures);
    else if (after >= 0) add("target-fits", "warn", `fits but eats into the headroom: ${figures}`);
    else add("target-fits", "fail", `does not fit: ${figures}`);

    const missing = missingStorages(guest, target);
    add(
      "target-storage",
      missing.length > 0 ? "fail" : "pass",
      missing.length > 0
        ? `storage ${missing.join(", ")} not available on ${target.name}`
        : guest.storages.length > 0
          ? `${guest.storages.join(", ")} available on ${target.name}`
          : "no volumes",
    );
  }

  if (!guest.precondition)
    add(
      "precondition",
      guest.type === "qemu" ? "warn" : "pass",
      guest.type === "qemu"
        ? "PVE's migrate precondition was not read; relying on the checks above"
        : "PVE gives no precondition for containers here; storage and HA checked above",
    );
  else if (guest.precondition.allowedNodes === undefined)
    add(
      "precondition",
      "warn",
      "PVE did not list allowed nodes (PVE before 8.4 for running VMs); relying on the checks above",
    );
  else {
    const refusal = preconditionRefusal(guest, move.target);
    add(
      "precondition",
      refusal ? "fail" : "pass",
      refusal ? `PVE refuses ${move.target}: ${refusal}` : `PVE allows ${move.target}`,
    );
  }

  if (!guest.ha) add("ha-affinity", "pass", "not an HA resource");
  else {
    const aff = new AffinityIndex(view);
    const sid = haSid(guest.type, guest.vmid);
    const refusal = aff.strictRefusal(sid, move.target) ?? aff.negativeConflict(sid, move.target);
    add("ha-affinity", refusal ? "fail" : "pass", refusal ?? `HA rules allow ${move.target}`);
  }

  return { vmid: move.vmid, target: move.target, ok: items.every((i) => i.status !== "fail"), items };
}
