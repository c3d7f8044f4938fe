/**
 * The operations endpoint of a process: GET /metrics (Prometheus text) and GET /healthz (JSON, 200
 * when every check passes, 503 otherwise: what container healthchecks and load balancers read).
 * Plain node:http; nothing here can change state.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

export interface HealthCheckResult {
  ok: boolean;
  detail?: string;
}

export interface Health {
  ok: boolean;
  checks: Record<string, HealthCheckResult>;
}

export interface OpsServerOptions {
  /** 0 = any free port (tests). */
  port: number;
  /** Default: every interface (a Prometheus in another container must reach it). */
  host?: string;
  registry: Registry;
  health: () => Promise<Health>;
  /** A health answer slower than this counts as unhealthy. Default 5000 ms. */
  healthTimeoutMs?: number;
}

export interface OpsServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

function timeout<T>(ms: number, what: string): { promise: Promise<T>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<T>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/** Runs named checks side by side; a check that throws or hangs is a failed check. */
export async function runHealthChecks(
  checks: Record<string, () => Promise<HealthCheckResult>>,
  timeoutMs = 3000,
): Promise<Health> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, fn]): Promise<[string, HealthCheckResult]> => {
      const t = timeout<HealthCheckResult>(timeoutMs, name);
      try {
        return [name, await Promise.race([fn(), t.promise])];
      } catch (e) {
        return [name, { ok: false, detail: e instanceof Error ? e.message : String(e) }];
      } finally {
        t.cancel();
      }
    }),
  );
  const result = Object.fromEntries(entries);
  return { ok: entries.every(([, r]) => r.ok), checks: result };
}

export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const healthTimeout = options.healthTimeoutMs ?? 5000;

  async function health(): Promise<Health> {
    const t = timeout<Health>(healthTimeout, "health check");
    try {
      return await Promise.race([options.health(), t.promise]);
    } catch (e) {
      return {
        ok: false,
        checks: { health: { ok: false, detail: e instanceof Error ? e.message : String(e) } },
      };
    } finally {
      t.cancel();
    }
  }

  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://ops.invalid").pathname;
    const head = req.method === "HEAD";
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, {
        "Content-Type": type,
        "Content-Length": Buffer.byteLength(body),
        "Cache-Control": "no-store",
      });
      res.end(head ? undefined : body);
    };
    if (req.method !== "GET" && !head) {
      send(405, "text/plain; charset=utf-8", "GET only\n");
      return;
    }
    if (path === "/metrics") {
      options.registry.metrics().then(
        (text) => send(200, options.registry.contentType, text),
        (e: unknown) => send(500, "text/plain; charset=utf-8", `metrics failed: ${String(e)}\n`),
      );
    } else if (path === "/healthz") {
      health().then((h) => send(h.ok ? 200 : 503, "application/json", `${JSON.stringify(h)}\n`));
    } else {
      send(404, "text/plain; charset=utf-8", "not found: try /metrics or /healthz\n");
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost =
    options.host === undefined || options.host === "0.0.0.0" || options.host === "::"
      ? "127.0.0.1"
      : options.host;
  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://${shownHost.includes(":") ? `[${shownHost}]` : shownHost}:${port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
