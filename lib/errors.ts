/**
 * The three kinds of failure (see CONTRIBUTING.md):
 * - UserError: a refusal the user can act on; shown as is, never logged as a crash.
 * - PveApiError: the Proxmox API answered with an error or could not be reached.
 * - anything else is a bug: logged with context, the user gets a generic reply.
 * Codes live in one catalogue so callers switch on codes, never on message text.
 */

export const ErrorCodes = {
  ConfigInvalid: "CONFIG_INVALID",
  UnknownNode: "UNKNOWN_NODE",
  NodeOffline: "NODE_OFFLINE",
  NothingToEvacuate: "NOTHING_TO_EVACUATE",
  UnknownVm: "UNKNOWN_VM",
  InvalidInput: "INVALID_INPUT",
  TaskLogUnreadable: "TASK_LOG_UNREADABLE",
  SnapshotMissingPath: "SNAPSHOT_MISSING_PATH",
  SnapshotInvalid: "SNAPSHOT_INVALID",
  SnapshotReadOnly: "SNAPSHOT_READ_ONLY",
  PreCheckFailed: "PRECHECK_FAILED",
  EvacuationInProgress: "EVACUATION_IN_PROGRESS",
  PermissionDenied: "PERMISSION_DENIED",
  PveApi: "PVE_API",
  PveUnreachable: "PVE_UNREACHABLE",
  PveResponseInvalid: "PVE_RESPONSE_INVALID",
  PveTls: "PVE_TLS",
  MigrateNotRetried: "MIGRATE_NOT_RETRIED",
  AuditChainBroken: "AUDIT_CHAIN_BROKEN",
  RedisUnreachable: "REDIS_UNREACHABLE",
  StartupFailed: "STARTUP_FAILED",
  QosProbeUnavailable: "QOS_PROBE_UNAVAILABLE",
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class UserError extends Error {
  override readonly name = "UserError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly remedy?: string,
  ) {
    super(remedy ? `${message} ${remedy}` : message);
  }
}

export class ConfigError extends UserError {
  constructor(readonly problems: readonly { key: string; reason: string }[]) {
    super(
      ErrorCodes.ConfigInvalid,
      `Invalid configuration:\n${problems.map((p) => `  - ${p.key}: ${p.reason}`).join("\n")}`,
    );
  }
}

export interface PveErrorDetail {
  method: string;
  /** API path without host, e.g. /nodes/node1/qemu/101/migrate */
  path: string;
  /** HTTP status, or undefined when no response arrived (network, timeout, TLS). */
  status?: number;
  /** PVE's own message (the `message` field / reason phrase), trimmed. */
  pveMessage: string;
  /** Parameter errors from a 400 answer: `errors{param: msg}`. */
  errors?: Record<string, string>;
}

/** A known cause gets a remedy the operator can act on. */
function remedyFor(detail: PveErrorDetail): string | undefined {
  switch (detail.status) {
    case 401:
      return "Check the API token id and secret (PVE_TOKEN_ID / PVE_TOKEN_SECRET) and that the token is not expired.";
    case 403:
      return "The API token lacks a privilege: it needs VM.Audit and VM.Migrate on /vms and Sys.Audit on / and /nodes (run pve-evacuate doctor; README: Permissions).";
    case 595:
      return "The node that should answer is unreachable from the node you are connected to (is it offline?).";
    default:
      return undefined;
  }
}

export class PveApiError extends Error {
  override readonly name = "PveApiError";
  readonly code: ErrorCode;
  readonly remedy: string | undefined;
  constructor(
    readonly detail: PveErrorDetail,
    code: ErrorCode = detail.status === undefined ? ErrorCodes.PveUnreachable : ErrorCodes.PveApi,
    options?: { cause?: unknown },
  ) {
    const where = `${detail.method} ${detail.path}`;
    const status = detail.status === undefined ? "no response" : `HTTP ${detail.status}`;
    const params = detail.errors
      ? ` (${Object.entries(detail.errors)
          .map(([k, v]) => `${k}: ${v.trim()}`)
          .join("; ")})`
      : "";
    const remedy = remedyFor(detail);
    super(
      `Proxmox API ${where} failed (${status}): ${detail.pveMessage}${params}${remedy ? ` ${remedy}` : ""}`,
      options,
    );
    this.code = code;
    this.remedy = remedy;
  }

  /** True when retrying the same idempotent request may help. */
  get transient(): boolean {
    const s = this.detail.status;
    return s === undefined || s === 502 || s === 503 || s === 504 || s === 595 || s === 596;
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}

/** The message a person sees: ours for known failures, a generic one for bugs. */
export function userMessage(e: unknown): string {
  if (e instanceof UserError || e instanceof PveApiError) return e.message;
  return "Something went wrong inside pve-evacuate; the log has the details.";
}
