/**
 * TLS trust for the PVE API, scoped to one undici Agent (never process-wide): either the CA that signed
 * the node certificate (normal chain and hostname checks) or a pinned SHA-256 fingerprint of the node
 * certificate itself, which is how PVE's self-signed certificates are verified.
 *
 * The pin is checked in our own connector after the handshake. `checkServerIdentity` cannot carry it:
 * Node only calls it when the chain verified, and ignores its verdict when `rejectUnauthorized` is false.
 */
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { Agent, buildConnector } from "undici";

export interface TlsTrust {
  /** PEM of the CA(s) the PVE certificate chains to. */
  caPem?: string;
  /** SHA-256 fingerprint of the PVE certificate: 64 hex digits, colons and case ignored. */
  fingerprint?: string;
}

export function normalizeFingerprint(fingerprint: string): string {
  return fingerprint.replace(/:/g, "").toLowerCase();
}

/** `AA:BB:...`, the form the PVE GUI and `pvenode cert info` show. */
export function formatFingerprint(fingerprint: string): string {
  const hex = normalizeFingerprint(fingerprint).toUpperCase();
  return (hex.match(/.{1,2}/g) ?? []).join(":");
}

export class TlsFingerprintMismatch extends Error {
  override readonly name = "TlsFingerprintMismatch";
  readonly code = "ERR_PVE_FINGERPRINT_MISMATCH";
  constructor(
    /** Fingerprint the server presented, `AA:BB:...`, or undefined when it sent no certificate. */
    readonly seen: string | undefined,
    readonly expected: string,
  ) {
    super(
      `the server certificate fingerprint is ${seen ?? "(no certificate)"}, expected ${formatFingerprint(expected)}`,
    );
  }
}

function isTlsSocket(socket: Socket): socket is TLSSocket {
  return "getPeerCertificate" in socket;
}

export interface DispatcherOptions {
  connectTimeoutMs?: number;
}

/** An undici dispatcher that only talks to a PVE whose certificate matches `trust`. */
export function createPveDispatcher(trust: TlsTrust, options: DispatcherOptions = {}): Agent {
  if (trust.caPem === undefined && trust.fingerprint === undefined) {
    throw new Error("createPveDispatcher: a CA or a fingerprint is required; verification is never off");
  }
  const timeout = options.connectTimeoutMs ?? 10_000;
  const pinned = trust.fingerprint === undefined ? undefined : normalizeFingerprint(trust.fingerprint);
  if (pinned !== undefined && !/^[0-9a-f]{64}$/.test(pinned)) {
    throw new Error("createPveDispatcher: the fingerprint must be 64 hex digits (SHA-256)");
  }
  if (pinned === undefined) {
    return new Agent({ connect: { ca: trust.caPem, rejectUnauthorized: true, timeout } });
  }

  const base = buildConnector({
    ...(trust.caPem === undefined
      ? { rejectUnauthorized: false }
      : { ca: trust.caPem, rejectUnauthorized: true }),
    // A resumed session skips the certificate exchange; always do a full handshake so the pin is checked.
    maxCachedSessions: 0,
    timeout,
  });
  const connector: buildConnector.connector = (opts, callback) => {
    base(opts, (error, socket) => {
      if (error !== null) {
        callback(error, null);
        return;
      }
      const seen = isTlsSocket(socket) ? socket.getPeerCertificate()?.fingerprint256 : undefined;
      if (seen === undefined || seen === "" || normalizeFingerprint(seen) !== pinned) {
        socket.destroy();
        callback(new TlsFingerprintMismatch(seen || undefined, pinned), null);
        return;
      }
      callback(null, socket);
    });
  };
  return new Agent({ connect: connector });
}
