/**
 * Guest endpoints: lists, config, status, guest agent, and migration (precondition + start), with the
 * checks PVE's API code makes before it forks the worker, in the same order and with the same words.
 */
import { dieError, paramError } from "../apiErrors.ts";
import type { LabGuest, LabGuestType } from "../cluster.ts";
import { startHaMigration, startLxcMigration, startQemuMigration } from "../migration.ts";
import { flag, num, optNum, P, type ParamSchema, str } from "../params.ts";
import { answer, type Route, type RouteContext } from "../router.ts";
import type { LabRuntime } from "../runtime.ts";
import {
  agentNetworkInterfaces,
  guestConfig,
  guestList,
  guestStatusCurrent,
  lxcMigratePrecondition,
  qemuMigratePrecondition,
} from "../views.ts";

const CONF_DIR: Record<LabGuestType, string> = { qemu: "qemu-server", lxc: "lxc" };

/** PVE::QemuConfig->load_config / PVE::LXC::Config->load_config on the node the request runs on. */
export function loadGuest(rt: LabRuntime, node: string, vmid: number, type: LabGuestType): LabGuest {
  const g = rt.cluster.guest(vmid);
  if (!g || g.node !== node || g.type !== type) {
    throw dieError(`Configuration file 'nodes/${node}/${CONF_DIR[type]}/${vmid}.conf' does not exist`);
  }
  return g;
}

function guestOf(ctx: RouteContext, type: LabGuestType): LabGuest {
  return loadGuest(ctx.rt, str(ctx.params, "node"), num(ctx.params, "vmid"), type);
}

function checkLock(g: LabGuest): void {
  if (g.lock !== undefined) throw dieError(`${g.type === "qemu" ? "VM" : "CT"} is locked (${g.lock})`);
}

/** Shared checks of both migrate POSTs; returns the target. */
function migrateTarget(ctx: RouteContext): string {
  const node = str(ctx.params, "node");
  const target = str(ctx.params, "target");
  if (target === node) throw paramError({ target: "target is local node." });
  if (!ctx.rt.cluster.node(target)) throw dieError(`no such cluster node '${target}'`);
  return target;
}

function checkStorageOn(ctx: RouteContext, g: LabGuest, target: string): void {
  for (const d of g.disks) {
    if (!ctx.rt.cluster.storageAvailableOn(d.storage, target)) {
      throw dieError(`storage '${d.storage}' is not available on node '${target}'`);
    }
  }
}

const guestParams = { node: P.node, vmid: P.vmid } as const satisfies ParamSchema;
const configParams = {
  ...guestParams,
  current: P.optBool,
  snapshot: P.optString,
} as const satisfies ParamSchema;

function guestReadRoutes(type: LabGuestType): Route[] {
  return [
    {
      method: "GET",
      path: `/nodes/{node}/${type}`,
      params: { node: P.node, ...(type === "qemu" ? { full: P.optBool } : {}) },
      proxyto: true,
      handler: ({ rt, params, nowS }) => answer(guestList(rt.cluster, str(params, "node"), type, nowS)),
    },
    {
      method: "GET",
      path: `/nodes/{node}/${type}/{vmid}/config`,
      params: configParams,
      perm: ["/vms/{vmid}", ["VM.Audit"]],
      proxyto: true,
      handler: (ctx) => answer(guestConfig(guestOf(ctx, type))),
    },
    {
      method: "GET",
      path: `/nodes/{node}/${type}/{vmid}/status/current`,
      params: guestParams,
      perm: ["/vms/{vmid}", ["VM.Audit"]],
      proxyto: true,
      handler: (ctx) => answer(guestStatusCurrent(ctx.rt.cluster, guestOf(ctx, type), ctx.nowS)),
    },
    {
      method: "GET",
      path: `/nodes/{node}/${type}/{vmid}/migrate`,
      params: { ...guestParams, target: { ...P.node, optional: true } },
      perm: ["/vms/{vmid}", ["VM.Migrate"]],
      proxyto: true,
      handler: (ctx) => {
        const g = guestOf(ctx, type);
        if (type === "qemu") checkLock(g);
        return answer(
          type === "qemu"
            ? qemuMigratePrecondition(ctx.rt.cluster, g)
            : lxcMigratePrecondition(ctx.rt.cluster, g),
        );
      },
    },
  ];
}

const qemuMigratePost: Route = {
  method: "POST",
  path: "/nodes/{node}/qemu/{vmid}/migrate",
  params: {
    ...guestParams,
    target: P.node,
    online: P.optBool,
    force: P.optBool,
    "with-local-disks": P.optBool,
    "with-conntrack-state": P.optBool,
    bwlimit: P.optCount,
    migration_network: P.optString,
    migration_type: { type: "string", enum: ["secure", "insecure"], optional: true },
    targetstorage: P.optString,
  },
  perm: ["/vms/{vmid}", ["VM.Migrate"]],
  proxyto: true,
  handler: (ctx) => {
    const { rt, params, authId } = ctx;
    const target = migrateTarget(ctx);
    const g = guestOf(ctx, "qemu");
    const rootOnly: Record<string, string> = {};
    for (const p of ["force", "migration_type", "migration_network"]) {
      if (params[p] !== undefined && params[p] !== false && authId !== "root@pam")
        rootOnly[p] = "Only root may use this option.";
    }
    if (Object.keys(rootOnly).length) throw paramError(rootOnly);
    checkLock(g);
    const online = flag(params, "online");
    if (g.status === "running" && !online) throw dieError("can't migrate running VM without --online");
    checkStorageOn(ctx, g, target);
    if (rt.cluster.haOf(g.vmid)) return answer(startHaMigration(rt, { guest: g, target, user: authId }).upid);
    const bwlimit = optNum(params, "bwlimit");
    const task = startQemuMigration(rt, {
      guest: g,
      target,
      user: authId,
      online: online && g.status === "running",
      withLocalDisks: flag(params, "with-local-disks"),
      ...(bwlimit ? { bwlimitKiB: bwlimit } : {}),
    });
    return answer(task.upid);
  },
};

const lxcMigratePost: Route = {
  method: "POST",
  path: "/nodes/{node}/lxc/{vmid}/migrate",
  params: {
    ...guestParams,
    target: P.node,
    online: P.optBool,
    restart: P.optBool,
    timeout: P.optInt,
    bwlimit: { type: "number", minimum: 0, optional: true },
    "target-storage": P.optString,
  },
  perm: ["/vms/{vmid}", ["VM.Migrate"]],
  proxyto: true,
  handler: (ctx) => {
    const { rt, params, authId } = ctx;
    const target = migrateTarget(ctx);
    const g = guestOf(ctx, "lxc");
    const online = flag(params, "online");
    const restart = flag(params, "restart");
    if (g.status === "running" && !online && !restart) {
      throw dieError("can't migrate running container without --online or --restart");
    }
    if (rt.cluster.haOf(g.vmid)) return answer(startHaMigration(rt, { guest: g, target, user: authId }).upid);
    return answer(startLxcMigration(rt, { guest: g, target, user: authId, online, restart }).upid);
  },
};

const agentInterfaces: Route = {
  method: "GET",
  path: "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces",
  params: guestParams,
  perm: ["/vms/{vmid}", ["VM.GuestAgent.Audit", "VM.GuestAgent.Unrestricted"]],
  proxyto: true,
  handler: (ctx) => {
    const g = guestOf(ctx, "qemu");
    if (!g.agent) throw dieError("No QEMU guest agent configured");
    if (g.status !== "running") throw dieError(`VM ${g.vmid} is not running`);
    const r = ctx.rt.responders.get(g.vmid);
    return answer(agentNetworkInterfaces(g, r?.host));
  },
};

export const guestRoutes: Route[] = [
  ...guestReadRoutes("qemu"),
  ...guestReadRoutes("lxc"),
  qemuMigratePost,
  lxcMigratePost,
  agentInterfaces,
];
