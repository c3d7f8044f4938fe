/**
 * The lab's routing table: one entry per PVE API method, declared the way PVE declares it — path
 * template, parameters, permission check, whether it is proxied to the node in the path — so the
 * server can apply PVE's order (permissions, proxy to node, parameter check, handler) uniformly.
 */
import type { ParamSchema, Params } from "./params.ts";
import type { LabRuntime } from "./runtime.ts";

export type HttpMethod = "GET" | "POST" | "PUT" | "DELETE";

export interface RouteContext {
  rt: LabRuntime;
  params: Params;
  /** Who calls: the token id `user@realm!token`. */
  authId: string;
  nowS: number;
}

/** A handler's answer: the data, plus `total` where PVE sets that result attribute. */
export interface RouteAnswer {
  data: unknown;
  total?: number;
}

export interface Route {
  method: HttpMethod;
  /** PVE path template, e.g. /nodes/{node}/qemu/{vmid}/config */
  path: string;
  /** Every parameter, path ones included (PVE checks them all alike). */
  params: ParamSchema;
  /** `["/vms/{vmid}", ["VM.Audit"]]`: ACL path template and privileges (any one suffices). */
  perm?: readonly [string, readonly string[]];
  /** Runs on the node named in {node}: unknown node → 500, offline node → 595. */
  proxyto?: boolean;
  handler(ctx: RouteContext): RouteAnswer | Promise<RouteAnswer>;
}

export interface CompiledRoute {
  route: Route;
  re: RegExp;
  names: string[];
}

export function answer(data: unknown, total?: number): RouteAnswer {
  return total === undefined ? { data } : { data, total };
}

export function compileRoutes(routes: readonly Route[]): CompiledRoute[] {
  return routes.map((route) => {
    const names: string[] = [];
    const body = route.path.replace(/\{([^}]+)\}/g, (_, name: string) => {
      names.push(name);
      return "([^/]+)";
    });
    return { route, re: new RegExp(`^${body}$`), names };
  });
}

export function matchRoute(
  table: readonly CompiledRoute[],
  method: string,
  path: string,
): { route: Route; pathParams: Record<string, string> } | undefined {
  for (const c of table) {
    if (c.route.method !== method) continue;
    const m = c.re.exec(path);
    if (!m) continue;
    const pathParams: Record<string, string> = {};
    c.names.forEach((name, i) => {
      pathParams[name] = decodeURIComponent(m[i + 1] as string);
    });
    return { route: c.route, pathParams };
  }
  return undefined;
}

/** Fills `{name}` in an ACL path template from the request's parameters. */
export function aclPath(template: string, raw: Readonly<Record<string, string>>): string {
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => raw[name] ?? "");
}
