/** Task endpoints: list, status, log, stop — PVE::API2::Tasks semantics, permissions included. */
import { isUpid } from "../../proxmox/upid.ts";
import { paramError, permissionError } from "../apiErrors.ts";
import { flag, optNum, P, type Params, str } from "../params.ts";
import { answer, type Route, type RouteContext } from "../router.ts";
import type { LabTask } from "../tasks.ts";

const taskParams = { node: P.node, upid: P.upid } as const;

function findTask(ctx: RouteContext): LabTask {
  const upid = str(ctx.params, "upid");
  if (!isUpid(upid)) throw paramError({ upid: "unable to parse worker upid" });
  const task = ctx.rt.tasks.get(upid);
  // The task file lives on the node that ran it; asked on another node, there is none.
  if (!task || task.node !== str(ctx.params, "node")) throw paramError({ upid: "no such task" });
  return task;
}

/** Someone else's task needs `privilege` on /nodes/{node}. */
function checkTaskAccess(ctx: RouteContext, task: LabTask, privilege: string): void {
  const acl = `/nodes/${task.node}`;
  if (task.user !== ctx.authId && ctx.rt.faults.denies(privilege, acl))
    throw permissionError(acl, [privilege]);
}

function optStr(params: Params, name: string): string | undefined {
  return params[name] === undefined ? undefined : String(params[name]);
}

export const taskRoutes: Route[] = [
  {
    method: "GET",
    path: "/nodes/{node}/tasks",
    params: {
      node: P.node,
      start: P.optCount,
      limit: P.optCount,
      vmid: P.optVmid,
      typefilter: P.optString,
      userfilter: P.optString,
      statusfilter: P.optString,
      source: { type: "string", enum: ["archive", "active", "all"], optional: true },
      since: P.optInt,
      until: P.optInt,
      errors: P.optBool,
    },
    proxyto: true,
    handler: (ctx) => {
      const { params } = ctx;
      const node = str(params, "node");
      const auditor = !ctx.rt.faults.denies("Sys.Audit", `/nodes/${node}`);
      const { tasks, total } = ctx.rt.tasks.list(node, {
        start: optNum(params, "start"),
        limit: optNum(params, "limit"),
        vmid: optNum(params, "vmid"),
        typefilter: optStr(params, "typefilter"),
        userfilter: optStr(params, "userfilter"),
        statusfilter: optStr(params, "statusfilter"),
        source: optStr(params, "source") as "archive" | "active" | "all" | undefined,
        since: optNum(params, "since"),
        until: optNum(params, "until"),
        errors: flag(params, "errors"),
        ...(auditor ? {} : { owner: ctx.authId }),
      });
      return answer(tasks, total);
    },
  },
  {
    method: "GET",
    path: "/nodes/{node}/tasks/{upid}",
    params: taskParams,
    handler: () => answer([{ name: "log" }, { name: "status" }]),
  },
  {
    method: "GET",
    path: "/nodes/{node}/tasks/{upid}/status",
    params: taskParams,
    proxyto: true,
    handler: (ctx) => {
      const task = findTask(ctx);
      checkTaskAccess(ctx, task, "Sys.Audit");
      return answer(ctx.rt.tasks.status(task));
    },
  },
  {
    method: "GET",
    path: "/nodes/{node}/tasks/{upid}/log",
    params: { ...taskParams, start: P.optCount, limit: P.optCount, download: P.optBool },
    proxyto: true,
    handler: (ctx) => {
      const upid = str(ctx.params, "upid");
      if (!isUpid(upid)) throw paramError({ upid: "unable to parse worker upid" });
      const task = ctx.rt.tasks.get(upid);
      if (!task || task.node !== str(ctx.params, "node")) {
        // PVE reads the log file directly and reports a missing one as the only line.
        return answer([{ n: 1, t: "unable to open file - No such file or directory" }], 1);
      }
      checkTaskAccess(ctx, task, "Sys.Audit");
      const { lines, total } = ctx.rt.tasks.readLog(
        task,
        optNum(ctx.params, "start"),
        optNum(ctx.params, "limit"),
      );
      return answer(lines, total);
    },
  },
  {
    method: "DELETE",
    path: "/nodes/{node}/tasks/{upid}",
    params: taskParams,
    proxyto: true,
    handler: (ctx) => {
      const task = findTask(ctx);
      checkTaskAccess(ctx, task, "Sys.Modify");
      ctx.rt.tasks.stop(task);
      return answer(null);
    },
  },
];
