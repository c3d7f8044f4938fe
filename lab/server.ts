/**
 * The lab: a Proxmox VE cluster in one process, served over HTTPS on the real API paths with the real
 * auth header, wire format and error behaviour, so the `proxmox-api` client, our adapter and the worker
 * run against it unchanged. Each running VM has a network responder on 127.0.0.1 that goes silent for
 * exactly the modelled outage when it migrates; the lab records that as ground truth.
 *
 * Request handling follows pveproxy/pvedaemon: authenticate (401 after PVE's 3 s delay), find the
 * method (501), check permissions (403), proxy to the node in the path (500 unknown node, 595 offline
 * node), verify parameters (400), run. Injected faults apply after authentication.
 * Lab-only endpoints, outside /api2 and without auth: GET /lab/migrations, GET /lab/vms,
 * GET|POST|DELETE /lab/faults.
 */
import { randomUUID, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { LabApiError, notImplemented, unknownNodeError, unreachableError } from "./apiErrors.ts";
import type { LabCluster } from "./cluster.ts";
import { FaultController, type FaultPlan, FaultSpec } from "./faults.ts";
import { clusterFromSnapshot, type Snapshot } from "./fromSnapshot.ts";
import { generateCluster } from "./generate.ts";
import { validateParams } from "./params.ts";
import { type QemuBackend, type QemuLabOptions, startQemuBackend } from "./qemu/backend.ts";
import { type Responder, startResponder } from "./responder.ts";
import { aclPath, compileRoutes, matchRoute, type RouteAnswer } from "./router.ts";
import { accessRoutes } from "./routes/access.ts";
import { clusterRoutes } from "./routes/cluster.ts";
import { guestRoutes } from "./routes/guests.ts";
import { haRoutes } from "./routes/ha.ts";
import { taskRoutes } from "./routes/tasks.ts";
import type { LabMigrationTruth, LabRuntime } from "./runtime.ts";
import { Scheduler } from "./scheduler.ts";
import { TaskRegistry } from "./tasks.ts";
import { createLabTls } from "./tls.ts";

export type { LabCluster } from "./cluster.ts";
export type { FaultController, FaultPlan } from "./faults.ts";
export type { LabMigrationTruth } from "./runtime.ts";

export interface LabOptions {
  /** 0 = any free port (tests); the CLI defaults to 8006. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 3, named node1..nodeN. */
  nodes?: number;
  /** Default 12 (mix of idle/video/game workloads). */
  vms?: number;
  /** Deterministic generation. */
  seed?: number;
  /** Build the cluster from a snapshot instead. */
  fromSnapshot?: Snapshot;
  /** A cluster built with LabClusterBuilder; wins over nodes/vms/seed/fromSnapshot. */
  cluster?: LabCluster;
  /** >1 compresses the bulk-transfer phases; outages stay real-time. */
  timeScale?: number;
  /** Default "evacuate@pve!lab". */
  tokenId?: string;
  /** Default: a random lowercase UUID. */
  tokenSecret?: string;
  faults?: FaultPlan;
  /** Default true: one TCP+UDP responder per running qemu VM on 127.0.0.1. */
  responders?: boolean;
  /** PVE answers a failed authentication after 3 s; tests may shorten it. Default 3000. */
  authFailureDelayMs?: number;
  /** Migration network throughput before bwlimit. Default 1 GbE payload (117.5 MiB/s). */
  bandwidthBytesPerSecond?: number;
  /** Model ms the HA CRM takes to start the qmigrate after a hamigrate. Default 5000 (scaled). */
  haCrmDelayMs?: number;
  /** Real QEMU guests for (some of) the running VMs, migrated for real (lab/qemu/, needs setup.sh). */
  qemu?: QemuLabOptions;
}

export interface RunningLab {
  /** https://127.0.0.1:PORT */
  url: string;
  host: string;
  port: number;
  /** SHA-256 of the node certificate, `AA:BB:...`. */
  fingerprint: string;
  /** The lab's root CA (PEM): trust it like /etc/pve/pve-root-ca.pem. */
  caPem: string;
  tokenId: string;
  tokenSecret: string;
  /** In-memory state, for tests to arrange scenarios (set a lock, take a node offline, ...). */
  cluster: LabCluster;
  /** Inject faults at runtime. */
  faults: FaultController;
  groundTruth(): LabMigrationTruth[];
  /** Present with `qemu`: the real guests (addresses, processes) and their network. */
  qemu?: QemuBackend;
  /** Closes the HTTPS server, responders, timers. */
  close(): Promise<void>;
}

const JSON_TYPE = "application/json;charset=UTF-8";
const API_PREFIX = "/api2/json";
const MAX_BODY = 1024 * 1024;
const routes = compileRoutes([...clusterRoutes, ...guestRoutes, ...taskRoutes, ...haRoutes, ...accessRoutes]);

/** Reason phrases must be one line of printable characters. */
function reason(text: string): string {
  return (text.split("\n")[0] ?? "").replace(/[^\x20-\x7e]/g, "?") || "Error";
}

function baseHeaders(res: ServerResponse): void {
  const date = new Date().toUTCString();
  res.setHeader("Server", "pve-api-daemon/3.0");
  res.setHeader("Date", date);
  res.setHeader("Expires", date);
  res.setHeader("Cache-Control", "max-age=0");
  res.setHeader("Pragma", "no-cache");
}

function sendJson(res: ServerResponse, status: number, body: unknown, statusMessage?: string): void {
  const text = JSON.stringify(body);
  baseHeaders(res);
  res.statusCode = status;
  if (statusMessage !== undefined) res.statusMessage = statusMessage;
  res.setHeader("Content-Type", JSON_TYPE);
  res.setHeader("Content-Length", Buffer.byteLength(text));
  // pveproxy drops keep-alive after an error
  if (status >= 400) res.setHeader("Connection", "close");
  res.end(text);
}

function sendError(res: ServerResponse, e: LabApiError): void {
  if (e.bodyless) {
    baseHeaders(res);
    res.statusCode = e.status;
    res.statusMessage = reason(e.pveMessage);
    res.setHeader("Content-Length", 0);
    res.setHeader("Connection", "close");
    res.end();
    return;
  }
  sendJson(
    res,
    e.status,
    { data: null, ...(e.errors ? { errors: e.errors } : {}), message: e.pveMessage },
    reason(e.pveMessage),
  );
}

function sendAnswer(res: ServerResponse, a: RouteAnswer): void {
  // PVE only adds `total` when it is non-zero.
  sendJson(res, 200, a.total ? { data: a.data, total: a.total } : { data: a.data });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new LabApiError(413, "Request Entity Too Large", undefined, true));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function paramsFromBody(contentType: string | undefined, body: string): Record<string, string> {
  if (body === "") return {};
  if (contentType?.includes("application/json")) {
    const parsed: unknown = JSON.parse(body);
    const out: Record<string, string> = {};
    if (typeof parsed === "object" && parsed !== null) {
      for (const [k, v] of Object.entries(parsed)) out[k] = v === true ? "1" : v === false ? "0" : String(v);
    }
    return out;
  }
  return Object.fromEntries(new URLSearchParams(body));
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export async function startLab(options: LabOptions = {}): Promise<RunningLab> {
  const host = options.host ?? "127.0.0.1";
  const tokenId = options.tokenId ?? "evacuate@pve!lab";
  const tokenSecret = options.tokenSecret ?? randomUUID();
  const authDelay = options.authFailureDelayMs ?? 3000;
  const cluster =
    options.cluster ??
    (options.fromSnapshot
      ? clusterFromSnapshot(options.fromSnapshot)
      : generateCluster({ nodes: options.nodes, vms: options.vms, seed: options.seed }));
  const scheduler = new Scheduler();
  const faults = new FaultController(cluster);
  for (const f of options.faults ?? []) faults.add(f);
  const rt: LabRuntime = {
    cluster,
    tasks: new TaskRegistry(),
    faults,
    scheduler,
    responders: new Map<number, Responder>(),
    truths: [],
    timeScale: Math.max(1, options.timeScale ?? 1),
    bandwidthBytesPerSecond: options.bandwidthBytesPerSecond ?? 117.5 * 1024 * 1024,
    haCrmDelayMs: options.haCrmDelayMs ?? 5000,
    localNode: cluster.nodes[0]?.name ?? "node1",
  };
  const qemu = options.qemu
    ? await startQemuBackend(cluster, {
        migrationBandwidthBytesPerSecond: rt.bandwidthBytesPerSecond,
        ...options.qemu,
      })
    : undefined;
  if (qemu) {
    rt.qemu = qemu;
    // Real guests answer on their own address; the agent endpoint and /lab/vms report it.
    for (const [vmid, r] of qemu.responders()) rt.responders.set(vmid, r);
  }
  if (options.responders ?? true) {
    for (const g of cluster.allGuests()) {
      if (g.type === "qemu" && g.status === "running" && !g.template && !qemu?.owns(g.vmid)) {
        const responder = await startResponder();
        rt.responders.set(g.vmid, responder);
        // Every responder listens on its own port; the tag tells the prober which (qos/ reads `probe-port-N`).
        g.tags = [...g.tags.filter((t) => !t.startsWith("probe-port-")), `probe-port-${responder.tcpPort}`];
      }
    }
  }
  const tls = await createLabTls(host === "0.0.0.0" || host === "::" ? [] : [host]);

  async function handleApi(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams) {
    const method = req.method ?? "GET";
    const auth = req.headers.authorization;
    const m = auth ? /^PVEAPIToken=([^=\s]+)=(\S+)$/.exec(auth) : null;
    if (!m || !safeEqual(m[1] as string, tokenId) || !safeEqual(m[2] as string, tokenSecret)) {
      await scheduler.sleep(authDelay);
      sendError(res, new LabApiError(401, auth ? "Authentication failed!" : "No ticket", undefined, true));
      return;
    }
    const bodyParams = paramsFromBody(req.headers["content-type"], await readBody(req));
    const fault = faults.onApiRequest(method, path);
    if (fault?.kind === "delay") {
      if (fault.ms === undefined) return; // never answered; close() drops the connection
      await scheduler.sleep(fault.ms);
    } else if (fault?.kind === "error") {
      const bodyless = fault.status !== 500 && fault.status !== 400 && fault.status !== 403;
      throw new LabApiError(fault.status, fault.message, undefined, bodyless);
    }
    const found = matchRoute(routes, method, path);
    if (!found) throw notImplemented(method, path);
    const raw: Record<string, string> = { ...bodyParams, ...Object.fromEntries(query) };
    delete raw._dc;
    for (const [k, v] of Object.entries(found.pathParams)) {
      if (raw[k] !== undefined && raw[k] !== v) {
        throw new LabApiError(400, "Parameter verification failed.\n", {
          [k]: "duplicate parameter (already defined in URI) with conflicting values!",
        });
      }
      raw[k] = v;
    }
    const { route } = found;
    if (route.perm) {
      const acl = aclPath(route.perm[0], raw);
      const privs = route.perm[1];
      if (privs.every((p) => faults.denies(p, acl))) {
        throw new LabApiError(403, `Permission check failed (${acl}, ${privs.join("|")})\n`);
      }
    }
    if (route.proxyto) {
      const node = cluster.node(raw.node ?? "");
      if (!node) throw unknownNodeError(raw.node ?? "");
      if (!node.online) throw unreachableError();
    }
    const params = validateParams(route.params, raw);
    const result = await route.handler({ rt, params, authId: tokenId, nowS: Math.floor(Date.now() / 1000) });
    sendAnswer(res, result);
  }

  async function handleLab(req: IncomingMessage, res: ServerResponse, path: string) {
    const method = req.method ?? "GET";
    if (method === "GET" && path === "/lab/migrations") {
      sendJson(res, 200, { data: rt.truths.map((t) => ({ ...t })) });
    } else if (method === "GET" && path === "/lab/vms") {
      const data = [...rt.responders.entries()].map(([vmid, r]) => {
        const g = cluster.guest(vmid);
        return {
          vmid,
          node: g?.node,
          workload: g?.workload,
          responder: { host: r.host, tcpPort: r.tcpPort, udpPort: r.udpPort },
        };
      });
      sendJson(res, 200, { data });
    } else if (method === "GET" && path === "/lab/faults") {
      sendJson(res, 200, { data: faults.list() });
    } else if (method === "POST" && path === "/lab/faults") {
      const spec = FaultSpec.safeParse(JSON.parse((await readBody(req)) || "null"));
      if (!spec.success) {
        sendJson(res, 400, { data: null, message: spec.error.issues.map((i) => i.message).join("; ") });
        return;
      }
      sendJson(res, 200, { data: { id: faults.add(spec.data) } });
    } else if (method === "DELETE" && path === "/lab/faults") {
      faults.clear();
      sendJson(res, 200, { data: null });
    } else if (method === "DELETE" && /^\/lab\/faults\/\d+$/.test(path)) {
      sendJson(res, 200, { data: faults.remove(Number(path.split("/")[3])) ? 1 : 0 });
    } else {
      sendJson(res, 404, { data: null, message: `no lab endpoint ${method} ${path}` });
    }
  }

  const server: Server = createServer({ key: tls.keyPem, cert: tls.certPem }, (req, res) => {
    const url = new URL(req.url ?? "/", "https://lab.invalid");
    const path = url.pathname;
    const work = path.startsWith("/lab/")
      ? handleLab(req, res, path)
      : path === API_PREFIX || path.startsWith(`${API_PREFIX}/`)
        ? handleApi(req, res, path.slice(API_PREFIX.length) || "/", url.searchParams)
        : Promise.reject(new LabApiError(501, "no such uri", undefined, true));
    work.catch((e: unknown) => {
      if (res.headersSent) return;
      if (e instanceof LabApiError) sendError(res, e);
      else if (e instanceof SyntaxError) sendError(res, new LabApiError(400, "Bad Request", undefined, true));
      else sendError(res, new LabApiError(500, `${e instanceof Error ? e.message : String(e)}\n`));
    });
  });
  server.on("clientError", (_e, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  let closed = false;

  return {
    url: `https://${urlHost}:${port}`,
    host,
    port,
    fingerprint: tls.fingerprint,
    caPem: tls.caPem,
    tokenId,
    tokenSecret,
    cluster,
    faults,
    groundTruth: () => rt.truths.map((t) => ({ ...t })),
    ...(qemu ? { qemu } : {}),
    async close() {
      if (closed) return;
      closed = true;
      scheduler.close();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await stopped;
      await Promise.all([...rt.responders.values()].map((r) => r.close()));
      await qemu?.close();
    },
  };
}
