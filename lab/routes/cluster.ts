/** Cluster-wide and node read endpoints: /version, /cluster/*, /nodes, /nodes/{node}/status. */
import { P, str } from "../params.ts";
import { answer, type Route } from "../router.ts";
import { clusterResources, clusterStatus, nodeStatus, nodesList } from "../views.ts";

export const clusterRoutes: Route[] = [
  {
    method: "GET",
    path: "/version",
    params: {},
    handler: ({ rt }) => answer({ ...rt.cluster.version, console: "html5" }),
  },
  {
    method: "GET",
    path: "/cluster/status",
    params: {},
    perm: ["/", ["Sys.Audit"]],
    handler: ({ rt }) => answer(clusterStatus(rt.cluster, rt.localNode)),
  },
  {
    method: "GET",
    path: "/cluster/resources",
    params: { type: { type: "string", enum: ["vm", "storage", "node", "sdn"], optional: true } },
    handler: ({ rt, params, nowS }) =>
      answer(clusterResources(rt.cluster, nowS, params.type === undefined ? undefined : str(params, "type"))),
  },
  {
    method: "GET",
    path: "/cluster/tasks",
    params: {},
    handler: ({ rt }) => answer(rt.tasks.recent()),
  },
  {
    method: "GET",
    path: "/nodes",
    params: {},
    handler: ({ rt, nowS }) => answer(nodesList(rt.cluster, nowS)),
  },
  {
    method: "GET",
    path: "/nodes/{node}/status",
    params: { node: P.node },
    perm: ["/nodes/{node}", ["Sys.Audit"]],
    proxyto: true,
    handler: ({ rt, params, nowS }) => {
      const node = rt.cluster.node(str(params, "node"));
      // proxyto already refused unknown and offline nodes
      return answer(node ? nodeStatus(rt.cluster, node, nowS) : null);
    },
  },
];
