/**
 * PveClient over HTTPS, built on the `proxmox-api` engine (URL building, token header, parameter
 * encoding, content-type check) with our own fetch underneath. The fetch wrapper owns everything the
 * engine gets wrong for this tool:
 * - it never throws into the engine: the engine re-sends any request once when fetch throws, which
 *   must never happen to a migrate POST, and it leaves its abort timer running (the CLI would hang);
 *   failures are recorded in the per-call context and a stand-in response makes the engine give up;
 * - every non-200 answer becomes a typed PveApiError with PVE's message and parameter errors;
 * - per-request timeout, TLS trust scoped to one undici Agent, and retries with backoff for GETs only.
 */
import { readFileSync } from "node:fs";
import { ProxmoxEngine } from "proxmox-api";
import { type Agent, type RequestInit, Response, fetch as undiciFetch } from "undici";
import type { PveConfig } from "../config/schema.ts";
import { ConfigError, ErrorCodes, PveApiError, type PveErrorDetail } from "../lib/errors.ts";
import type { Secret } from "../lib/secret.ts";
import {
  type ApiEnvelope,
  type ApiParams,
  bindPveClient,
  type HttpMethod,
  type PveTransport,
  type QueryValue,
} from "./paths.ts";
import type { PveClient } from "./port.ts";
import { createPveDispatcher, formatFingerprint, TlsFingerprintMismatch } from "./tls.ts";

/** PVE's exact content type; the engine rejects anything else, so we check it first and say why. */
export const PVE_CONTENT_TYPE = "application/json;charset=UTF-8";

export interface HttpClientOptions {
  host: string;
  port: number;
  tokenId: string;
  tokenSecret: Secret;
  /** PEM of the CA the PVE certificate chains to. */
  caPem?: string;
  /** Pinned SHA-256 fingerprint of the PVE certificate. */
  fingerprint?: string;
  /** Whole request, connect to last body byte. */
  timeoutMs: number;
  /** Extra attempts for idempotent GETs; POST and DELETE are sent once. */
  retries: number;
  /** Backoff before retry k (0-based) is base·2^k capped at max, with jitter in [½, 1]. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Sees every successful GET's raw `data` (before any schema transform). */
  onResponse?: (path: string, data: unknown) => void;
}

export interface HttpPveClient extends PveClient {
  /** `host:port`, for messages and snapshot metadata. */
  readonly source: string;
  readonly transport: PveTransport;
  /** Raw `data` of a GET, exactly as PVE sent it (retried like every GET). */
  rawGet(path: string, params?: ApiParams): Promise<unknown>;
  /** Closes the connection pool. */
  close(): Promise<void>;
}

const TOKEN_SECRET_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TOKEN_ID_RE = /^[^@\s]+@[^!\s]+![A-Za-z0-9._-]+$/;
const MIGRATE_PATH_RE = /^\/nodes\/([^/]+)\/(qemu|lxc)\/([^/]+)\/migrate$/;
/** Failures where the request provably never reached PVE, so even a POST did nothing. */
const NOT_SENT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
]);
const TLS_CODE_RE = /CERT|SELF_SIGNED|UNABLE_TO_|^ERR_TLS_|^ERR_SSL_|^ERR_PVE_FINGERPRINT/;

/** Reads the CA file named in the config; the engine options never see the path. */
export function httpClientOptionsFromConfig(
  pve: PveConfig,
  readFile: (path: string) => string = (p) => readFileSync(p, "utf8"),
): HttpClientOptions {
  let caPem: string | undefined;
  if (pve.caFile !== undefined) {
    try {
      caPem = readFile(pve.caFile);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? "unreadable";
      throw new ConfigError([{ key: "PVE_CA_FILE", reason: `cannot read ${pve.caFile} (${code})` }]);
    }
  }
  return {
    host: pve.host,
    port: pve.port,
    tokenId: pve.tokenId,
    tokenSecret: pve.tokenSecret,
    caPem,
    fingerprint: pve.fingerprint,
    timeoutMs: pve.timeoutMs,
    retries: pve.retries,
  };
}

interface CallContext {
  sends: number;
  failure?: PveApiError;
  envelope?: ApiEnvelope;
}

interface ErrorInfo {
  code?: string;
  message: string;
  error?: unknown;
}

/** undici wraps the real cause ("fetch failed" → cause → cause); find the most specific one. */
function rootCause(e: unknown): ErrorInfo {
  let current: unknown = e;
  let best: ErrorInfo = { message: e instanceof Error ? e.message : String(e), error: e };
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === "string" || current instanceof TlsFingerprintMismatch) {
      best = { code, message: current.message, error: current };
    } else if (depth > 0) {
      best = { ...best, message: current.message, error: current };
    }
    current = current.cause;
  }
  return best;
}

function bracketHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

function toEngineParams(params: ApiParams | undefined): Record<string, QueryValue> | undefined {
  if (!params) return undefined;
  const out: Record<string, QueryValue> = {};
  for (const [k, v] of Object.entries(params)) if (v !== undefined) out[k] = v;
  return Object.keys(out).length > 0 ? out : undefined;
}

function standIn(): Response {
  // Any non-200 makes the engine throw without retrying; the real error is in the call context.
  return new Response('{"data":null}', { status: 599, headers: { "content-type": PVE_CONTENT_TYPE } });
}

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function createHttpPveClient(options: HttpClientOptions): HttpPveClient {
  const secret = options.tokenSecret.reveal();
  if (!TOKEN_ID_RE.test(options.tokenId)) {
    throw new ConfigError([{ key: "PVE_TOKEN_ID", reason: "must look like user@realm!tokenname" }]);
  }
  if (!TOKEN_SECRET_RE.test(secret)) {
    throw new ConfigError([
      { key: "PVE_TOKEN_SECRET", reason: "must be the token's UUID (lowercase hex, 8-4-4-4-12)" },
    ]);
  }
  const source = `${options.host}:${options.port}`;
  const dispatcher: Agent = createPveDispatcher(
    { caPem: options.caPem, fingerprint: options.fingerprint },
    { connectTimeoutMs: options.timeoutMs },
  );
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const backoffBase = options.backoffBaseMs ?? 250;
  const backoffMax = options.backoffMaxMs ?? 4000;

  /** Nothing we throw or log may carry the token, whatever a server or library echoes back. */
  const redact = (text: string): string => text.split(secret).join("[redacted]");

  function fail(detail: PveErrorDetail, code?: (typeof ErrorCodes)[keyof typeof ErrorCodes]): PveApiError {
    return new PveApiError({ ...detail, pveMessage: redact(detail.pveMessage) }, code);
  }

  function httpFailure(method: HttpMethod, path: string, status: number, reason: string, body: string) {
    let message = "";
    let errors: Record<string, string> | undefined;
    try {
      const parsed: unknown = JSON.parse(body);
      if (typeof parsed === "object" && parsed !== null) {
        const m = (parsed as { message?: unknown }).message;
        if (typeof m === "string") message = m.trim();
        const errs = (parsed as { errors?: unknown }).errors;
        if (typeof errs === "object" && errs !== null) {
          errors = {};
          for (const [k, v] of Object.entries(errs)) errors[k] = redact(String(v).trim());
        }
      }
    } catch {
      // PVE answers errors in JSON; anything else (a proxy's HTML page) keeps just the reason phrase.
    }
    return fail({ method, path, status, pveMessage: message || reason.trim() || `HTTP ${status}`, errors });
  }

  function networkFailure(method: HttpMethod, path: string, e: unknown, timedOut: boolean): PveApiError {
    const cause = rootCause(e);
    if (cause.error instanceof TlsFingerprintMismatch) {
      const seen = cause.error.seen ?? "(no certificate)";
      return fail(
        {
          method,
          path,
          pveMessage: `TLS: the certificate of ${source} has fingerprint ${seen}, expected ${formatFingerprint(cause.error.expected)} (PVE_FINGERPRINT). If the certificate was renewed, confirm the new one on the node (pvenode cert info) and update PVE_FINGERPRINT; otherwise something else answers at this address.`,
        },
        ErrorCodes.PveTls,
      );
    }
    if (cause.code !== undefined && TLS_CODE_RE.test(cause.code)) {
      return fail(
        {
          method,
          path,
          pveMessage: `TLS: the certificate of ${source} was refused (${cause.code}: ${cause.message}). Check PVE_CA_FILE (e.g. /etc/pve/pve-root-ca.pem) and that PVE_HOST matches a name in the certificate, or pin it with PVE_FINGERPRINT.`,
        },
        ErrorCodes.PveTls,
      );
    }
    const notSent = !timedOut && cause.code !== undefined && NOT_SENT_CODES.has(cause.code);
    const why = timedOut
      ? `no answer within ${options.timeoutMs} ms (PVE_TIMEOUT_MS)`
      : `cannot reach ${source} (${cause.code ? `${cause.code}: ` : ""}${cause.message})`;
    const migrate = MIGRATE_PATH_RE.exec(path);
    if (method !== "GET" && !notSent) {
      if (migrate) {
        const [, node, type, vmid] = migrate;
        return fail(
          {
            method,
            path,
            pveMessage: `${why}. The migrate request was sent, so the migration of ${type} ${vmid} may or may not have started; it is not sent again. Check the tasks of node ${node} (GET /nodes/${node}/tasks?vmid=${vmid}&source=all, or the node's Task History in the GUI) before trying again.`,
          },
          ErrorCodes.MigrateNotRetried,
        );
      }
      return fail({
        method,
        path,
        pveMessage: `${why}. The request was sent and may or may not have been carried out; it is not sent again.`,
      });
    }
    return fail({
      method,
      path,
      pveMessage: timedOut ? why : `${why}. Check PVE_HOST/PVE_PORT and that pveproxy runs on the node.`,
    });
  }

  /** One fetch per logical call attempt; the context sees every outcome. */
  function callFetch(call: CallContext, method: HttpMethod, path: string) {
    return async (url: string | URL, init?: RequestInit): Promise<Response> => {
      if (call.sends > 0) {
        // Only reachable if the engine retries; a non-GET must not reach the wire twice.
        call.failure ??=
          method === "GET"
            ? fail({ method, path, pveMessage: "internal: request repeated by the API library" })
            : networkFailure(method, path, new Error("request repeated by the API library"), false);
        return standIn();
      }
      call.sends++;
      const controller = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, options.timeoutMs);
      const signal = init?.signal ? AbortSignal.any([init.signal, controller.signal]) : controller.signal;
      try {
        const res = await undiciFetch(url, { ...init, signal, dispatcher });
        const body = await res.text();
        const contentType = res.headers.get("content-type");
        if (res.status !== 200) {
          call.failure = httpFailure(method, path, res.status, res.statusText, body);
          return standIn();
        }
        if (contentType !== PVE_CONTENT_TYPE) {
          call.failure = fail(
            {
              method,
              path,
              status: 200,
              pveMessage: `unexpected content type "${contentType ?? "(none)"}" (PVE sends "${PVE_CONTENT_TYPE}"); is ${source} a Proxmox VE API?`,
            },
            ErrorCodes.PveResponseInvalid,
          );
          return standIn();
        }
        let parsed: unknown;
        try {
          parsed = JSON.parse(body);
        } catch {
          parsed = undefined;
        }
        if (typeof parsed !== "object" || parsed === null || !("data" in parsed)) {
          call.failure = fail(
            { method, path, status: 200, pveMessage: "the answer is not PVE's JSON envelope {data: ...}" },
            ErrorCodes.PveResponseInvalid,
          );
          return standIn();
        }
        const envelope = parsed as { data: unknown; total?: unknown };
        call.envelope = {
          data: envelope.data,
          ...(typeof envelope.total === "number" ? { total: envelope.total } : {}),
        };
        return new Response(body, { status: 200, headers: { "content-type": PVE_CONTENT_TYPE } });
      } catch (e) {
        call.failure = networkFailure(method, path, e, timedOut);
        return standIn();
      } finally {
        clearTimeout(timer);
      }
    };
  }

  async function attempt(method: HttpMethod, path: string, params?: ApiParams): Promise<ApiEnvelope> {
    const call: CallContext = { sends: 0 };
    // A fresh engine per call binds the fetch to this call's context; construction is just field copies.
    const engine = new ProxmoxEngine({
      host: bracketHost(options.host),
      port: options.port,
      tokenID: options.tokenId,
      tokenSecret: secret,
      // Ours fires first and is reported; the engine's is only a backstop.
      queryTimeout: options.timeoutMs + 5_000,
      fetch: callFetch(call, method, path),
    });
    try {
      await engine.doRequest(method, `/api2/json${path}`, path, toEngineParams(params));
    } catch (e) {
      if (call.failure) throw call.failure;
      throw fail(
        {
          method,
          path,
          status: 200,
          pveMessage: `the API library refused the answer: ${(e as Error).message}`,
        },
        ErrorCodes.PveResponseInvalid,
      );
    }
    if (call.failure) throw call.failure;
    if (!call.envelope) {
      throw fail({ method, path, pveMessage: "internal: no answer recorded" }, ErrorCodes.PveResponseInvalid);
    }
    if (method === "GET") options.onResponse?.(path, call.envelope.data);
    return call.envelope;
  }

  function retryable(e: unknown): boolean {
    return e instanceof PveApiError && e.transient && e.code !== ErrorCodes.PveTls;
  }

  const transport: PveTransport = {
    async request(method, path, params) {
      for (let k = 0; ; k++) {
        try {
          return await attempt(method, path, params);
        } catch (e) {
          if (method !== "GET" || k >= options.retries || !retryable(e)) throw e;
          const ceiling = Math.min(backoffMax, backoffBase * 2 ** k);
          await sleep(Math.round(ceiling * (0.5 + random() / 2)));
        }
      }
    },
  };

  return {
    ...bindPveClient(transport),
    source,
    transport,
    async rawGet(path, params) {
      return (await transport.request("GET", path, params)).data;
    },
    close: () => dispatcher.close(),
  };
}
