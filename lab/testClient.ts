/**
 * Test helper: raw HTTPS calls to a running lab exactly as a PVE client makes them (token header,
 * query string for GET, form body for POST), trusting the lab's CA. Returns status, reason phrase,
 * content type and parsed body so tests can check PVE's wire format itself.
 */
import { Agent, fetch } from "undici";
import type { RunningLab } from "./server.ts";

export interface RawAnswer {
  status: number;
  statusText: string;
  contentType: string | null;
  /** Parsed JSON, or the text when the body is not JSON (or empty). */
  body: unknown;
}

export interface LabHttp {
  get(path: string, params?: Record<string, string | number>): Promise<RawAnswer>;
  post(path: string, params?: Record<string, string | number>): Promise<RawAnswer>;
  del(path: string): Promise<RawAnswer>;
  /** `data` of a 200 answer; throws with PVE's message otherwise. */
  data<T = unknown>(path: string, params?: Record<string, string | number>): Promise<T>;
  /** Any request, with a chosen Authorization header (or none). */
  raw(
    method: string,
    path: string,
    init?: { authorization?: string | null; body?: string },
  ): Promise<RawAnswer>;
  close(): Promise<void>;
}

export function labHttp(lab: RunningLab): LabHttp {
  const dispatcher = new Agent({ connect: { ca: lab.caPem } });
  const auth = `PVEAPIToken=${lab.tokenId}=${lab.tokenSecret}`;
  const url = (path: string) => `${lab.url}${path.startsWith("/lab/") ? "" : "/api2/json"}${path}`;

  async function send(
    method: string,
    path: string,
    authorization: string | null,
    body?: string,
  ): Promise<RawAnswer> {
    const headers: Record<string, string> = {};
    if (authorization !== null) headers.Authorization = authorization;
    if (body !== undefined) headers["Content-Type"] = "application/x-www-form-urlencoded";
    const res = await fetch(url(path), { method, headers, body, dispatcher });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === "" ? "" : JSON.parse(text);
    } catch {
      // keep the text
    }
    return {
      status: res.status,
      statusText: res.statusText,
      contentType: res.headers.get("content-type"),
      body: parsed,
    };
  }

  const qs = (params?: Record<string, string | number>) =>
    params
      ? `?${new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]))}`
      : "";

  const api: LabHttp = {
    get: (path, params) => send("GET", `${path}${qs(params)}`, auth),
    post: (path, params) =>
      send(
        "POST",
        path,
        auth,
        new URLSearchParams(
          Object.entries(params ?? {}).map(([k, v]): [string, string] => [k, String(v)]),
        ).toString(),
      ),
    del: (path) => send("DELETE", path, auth),
    async data<T>(path: string, params?: Record<string, string | number>) {
      const r = await api.get(path, params);
      if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.statusText}`);
      return (r.body as { data: T }).data;
    },
    raw: (method, path, init = {}) =>
      send(method, path, init.authorization === undefined ? auth : init.authorization, init.body),
    close: () => dispatcher.close(),
  };
  return api;
}

/** Polls until `check` returns a value (not undefined) or the deadline passes. */
export async function waitFor<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 20_000,
  everyMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`waitFor: nothing after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
