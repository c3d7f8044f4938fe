/** HA read endpoints: status (current, manager_status), resources, PVE 9 rules. */
import { type Params, str } from "../params.ts";
import { answer, type Route } from "../router.ts";
import { haManagerStatus, haResources, haRules, haStatusCurrent } from "../views.ts";

function opt(params: Params, name: string): string | undefined {
  return params[name] === undefined ? undefined : str(params, name);
}

export const haRoutes: Route[] = [
  {
    method: "GET",
    path: "/cluster/ha/status/current",
    params: {},
    perm: ["/", ["Sys.Audit"]],
    handler: ({ rt, nowS }) => answer(haStatusCurrent(rt.cluster, rt.localNode, nowS)),
  },
  {
    method: "GET",
    path: "/cluster/ha/status/manager_status",
    params: {},
    perm: ["/", ["Sys.Audit"]],
    handler: ({ rt, nowS }) => answer(haManagerStatus(rt.cluster, rt.localNode, nowS)),
  },
  {
    method: "GET",
    path: "/cluster/ha/resources",
    params: { type: { type: "string", enum: ["ct", "vm"], optional: true } },
    perm: ["/", ["Sys.Audit"]],
    handler: ({ rt, params }) => answer(haResources(rt.cluster, opt(params, "type"))),
  },
  {
    method: "GET",
    path: "/cluster/ha/rules",
    params: {
      type: { type: "string", enum: ["node-affinity", "resource-affinity"], optional: true },
      resource: { type: "string", optional: true },
    },
    perm: ["/", ["Sys.Audit"]],
    handler: ({ rt, params }) =>
      answer(haRules(rt.cluster, { type: opt(params, "type"), resource: opt(params, "resource") })),
  },
];
