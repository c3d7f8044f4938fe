/**
 * Test-only: throwaway TLS material and a tiny HTTPS server on 127.0.0.1:0 that records every request,
 * for exercising the HTTP adapter against real sockets.
 */
import { X509Certificate } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { generate } from "selfsigned";

export interface TestPki {
  caPem: string;
  /** A CA that did not sign the server certificate. */
  otherCaPem: string;
  certPem: string;
  keyPem: string;
  /** SHA-256 of the server certificate, `AA:BB:...`. */
  fingerprint: string;
}

async function makeCa(cn: string) {
  return generate([{ name: "commonName", value: cn }], {
    keyType: "ec",
    algorithm: "sha256",
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
}

export async function makeTestPki(): Promise<TestPki> {
  const ca = await makeCa("test PVE root CA");
  const other = await makeCa("unrelated CA");
  const leaf = await generate([{ name: "commonName", value: "127.0.0.1" }], {
    keyType: "ec",
    algorithm: "sha256",
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 7, ip: "127.0.0.1" },
          { type: 2, value: "localhost" },
        ],
      },
    ],
  });
  return {
    caPem: ca.cert,
    otherCaPem: other.cert,
    certPem: leaf.cert,
    keyPem: leaf.private,
    fingerprint: new X509Certificate(leaf.cert).fingerprint256,
  };
}

export interface SeenRequest {
  method: string;
  url: string;
  authorization: string | undefined;
  body: string;
}

export type TestHandler = (req: SeenRequest, res: ServerResponse, raw: IncomingMessage) => void;

export interface TestServer {
  port: number;
  requests: SeenRequest[];
  handle(handler: TestHandler): void;
  close(): Promise<void>;
}

export const PVE_JSON = { "content-type": "application/json;charset=UTF-8" };

export function sendPve(res: ServerResponse, status: number, body: unknown, reason?: string): void {
  res.statusCode = status;
  if (reason !== undefined) res.statusMessage = reason;
  res.setHeader("content-type", PVE_JSON["content-type"]);
  res.end(JSON.stringify(body));
}

export async function startTestServer(pki: TestPki): Promise<TestServer> {
  let handler: TestHandler = (_req, res) => sendPve(res, 200, { data: null });
  const requests: SeenRequest[] = [];
  const server: Server = createServer({ key: pki.keyPem, cert: pki.certPem }, (raw, res) => {
    const chunks: Buffer[] = [];
    raw.on("data", (c: Buffer) => chunks.push(c));
    raw.on("end", () => {
      const seen: SeenRequest = {
        method: raw.method ?? "",
        url: raw.url ?? "",
        authorization: raw.headers.authorization,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      requests.push(seen);
      handler(seen, res, raw);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    handle(h) {
      handler = h;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Answers GETs like PVE would (errors as PVE statuses), e.g. from a snapshot's replay transport. */
export function serveSnapshotGets(
  server: TestServer,
  get: (path: string, query: Record<string, string>) => Promise<unknown>,
): void {
  server.handle((req, res) => {
    const url = new URL(req.url, "https://pve.invalid");
    const path = url.pathname.replace(/^\/api2\/json/, "");
    get(path, Object.fromEntries(url.searchParams)).then(
      (data) => sendPve(res, 200, { data }),
      (e: unknown) => {
        const detail = (e as { detail?: { status?: number; pveMessage?: string } }).detail;
        sendPve(res, detail?.status ?? 500, { data: null }, detail?.pveMessage ?? "internal error");
      },
    );
  });
}
