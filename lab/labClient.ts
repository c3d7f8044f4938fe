/**
 * The tool's own PVE client pointed at a running lab: token auth and the lab's pinned fingerprint,
 * exactly as an operator would configure it for a real cluster.
 */
import { Secret } from "../lib/secret.ts";
import { createHttpPveClient, type HttpPveClient } from "../proxmox/httpClient.ts";
import type { RunningLab } from "./server.ts";

export function labPveClient(lab: RunningLab): HttpPveClient {
  return createHttpPveClient({
    host: lab.host,
    port: lab.port,
    tokenId: lab.tokenId,
    tokenSecret: new Secret(lab.tokenSecret),
    fingerprint: lab.fingerprint,
    timeoutMs: 10_000,
    retries: 2,
  });
}

/** The `PVE_*` variables that point pve-evacuate at this lab (what `pve-evacuate lab` prints). */
export function labConnectionEnv(lab: RunningLab): Record<string, string> {
  return {
    PVE_HOST: lab.host,
    PVE_PORT: String(lab.port),
    PVE_TOKEN_ID: lab.tokenId,
    PVE_TOKEN_SECRET: lab.tokenSecret,
    PVE_FINGERPRINT: lab.fingerprint,
  };
}
