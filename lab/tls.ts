/**
 * TLS material for the lab, shaped like a PVE cluster's: a cluster root CA (what
 * /etc/pve/pve-root-ca.pem holds) and a node certificate signed by it, valid for 127.0.0.1 and
 * localhost. Clients trust it either through the CA (`caPem`) or by pinning the node certificate's
 * SHA-256 fingerprint, the two ways a real PVE certificate is verified.
 */
import { X509Certificate } from "node:crypto";
import { generate } from "selfsigned";

export interface LabTls {
  /** PEM of the lab's root CA: give it to a client as its CA. */
  caPem: string;
  certPem: string;
  keyPem: string;
  /** SHA-256 of the node certificate, `AA:BB:...` (what `pvenode cert info` shows). */
  fingerprint: string;
}

export async function createLabTls(hostnames: readonly string[] = []): Promise<LabTls> {
  const notBeforeDate = new Date(Date.now() - 60_000);
  const notAfterDate = new Date(Date.now() + 2 * 365 * 24 * 3600_000);
  const ca = await generate(
    [
      { name: "commonName", value: "Proxmox Virtual Environment" },
      { shortName: "OU", value: "pve-evacuate lab" },
      { name: "organizationName", value: "PVE Cluster Manager CA" },
    ],
    {
      keyType: "ec",
      algorithm: "sha256",
      notBeforeDate,
      notAfterDate,
      extensions: [
        { name: "basicConstraints", cA: true, critical: true },
        { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
      ],
    },
  );
  const names = new Set(["localhost", ...hostnames.filter((h) => !isIp(h))]);
  const ips = new Set(["127.0.0.1", "::1", ...hostnames.filter(isIp)]);
  const leaf = await generate([{ name: "commonName", value: "node1.lab" }], {
    keyType: "ec",
    algorithm: "sha256",
    notBeforeDate,
    notAfterDate,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          ...[...names].map((value) => ({ type: 2 as const, value })),
          ...[...ips].map((ip) => ({ type: 7 as const, ip })),
        ],
      },
    ],
  });
  return {
    caPem: ca.cert,
    certPem: leaf.cert,
    keyPem: leaf.private,
    fingerprint: new X509Certificate(leaf.cert).fingerprint256,
  };
}

function isIp(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(":");
}
