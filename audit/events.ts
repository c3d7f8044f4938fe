/**
 * Every kind of entry the audit log holds: one zod discriminated union on `type`.
 * Payloads another module owns (the plan, command options) are kept open but must be JSON,
 * because the hash chain is computed over their canonical JSON.
 */
import { z } from "zod";

/**
 * Open payload owned by another module. The JSON round trip drops `undefined` fields (common in
 * optional TS properties) before validation, so callers can pass their own objects as they are.
 */
function jsonRoundTrip(v: unknown): unknown {
  if (v === undefined) return v;
  try {
    return JSON.parse(JSON.stringify(v));
  } catch {
    // Not serialisable (bigint, cycle, function): hand it on unchanged so the schema reports it.
    return v;
  }
}
const jsonValue = z.preprocess(jsonRoundTrip, z.json());
const jsonRecord = z.preprocess(jsonRoundTrip, z.record(z.string(), z.json()));

export const ActorKind = z.enum(["discord", "cli", "worker", "system"]);
export type ActorKind = z.infer<typeof ActorKind>;

export const Actor = z.object({
  kind: ActorKind,
  /** Discord user id, OS user name, worker id… stable across renames. */
  id: z.string().min(1),
  /** Display name at the time of the event, for people reading the log. */
  name: z.string().optional(),
});
export type Actor = z.infer<typeof Actor>;

const nodeName = z.string().min(1);
const vmid = z.number().int().positive();
const bytes = z.number().nonnegative();
const ms = z.number().nonnegative();

const base = {
  at: z.iso.datetime({ offset: true }),
  actor: Actor,
  evacuationId: z.string().min(1).optional(),
  node: nodeName.optional(),
  vmid: vmid.optional(),
};

/** PVE error details as lib/errors.ts PveErrorDetail carries them. */
export const PveErrorInfo = z.object({
  method: z.string(),
  path: z.string(),
  status: z.number().int().optional(),
  pveMessage: z.string(),
  errors: z.record(z.string(), z.string()).optional(),
});
export type PveErrorInfo = z.infer<typeof PveErrorInfo>;

export const ErrorInfo = z.object({
  code: z.string().min(1),
  message: z.string(),
  pve: PveErrorInfo.optional(),
});
export type ErrorInfo = z.infer<typeof ErrorInfo>;

export const EvacuationRequested = z.object({
  ...base,
  type: z.literal("evacuation.requested"),
  /** Which command asked: a node evacuation, one VM, or moving back after maintenance. */
  mode: z.enum(["evacuate", "migrate", "return"]),
  /** Source node the guests leave. */
  source: nodeName,
  /** Options as the user gave them (dry_run, include_stopped, target…); owned by commands/. */
  options: jsonRecord,
});

export const PlanCreated = z.object({
  ...base,
  type: z.literal("plan.created"),
  /** The plan as planning/ produced it (moves, blocked, skipped); owned by planning/. */
  plan: jsonValue,
});

export const EvacuationConfirmed = z.object({
  ...base,
  type: z.literal("evacuation.confirmed"),
});

export const EvacuationCancelled = z.object({
  ...base,
  type: z.literal("evacuation.cancelled"),
  /** Whether the migration already running was aborted too, or only waiting ones dropped. */
  abortRunning: z.boolean(),
  reason: z.string().optional(),
});

export const MigrationQueued = z.object({
  ...base,
  type: z.literal("migration.queued"),
  target: nodeName,
  /** 1-based place in the evacuation's order. */
  position: z.number().int().positive().optional(),
  jobId: z.string().optional(),
});

export const MigrationState = z.object({
  ...base,
  type: z.literal("migration.state"),
  /** Lifecycle states are owned by worker/; kept as strings here. */
  from: z.string().min(1),
  to: z.string().min(1),
  step: z.string().optional(),
  upid: z.string().optional(),
});

export const CheckStatus = z.enum(["pass", "warn", "fail"]);
export type CheckStatus = z.infer<typeof CheckStatus>;

export const PrecheckResult = z.object({
  ...base,
  type: z.literal("precheck.result"),
  target: nodeName.optional(),
  items: z.array(
    z.object({
      name: z.string().min(1),
      status: CheckStatus,
      reason: z.string().optional(),
    }),
  ),
});

export const MigrationStarted = z.object({
  ...base,
  type: z.literal("migration.started"),
  upid: z.string().min(1),
  target: nodeName,
});

/** Not recorded unless the log is built with `auditProgress`: progress is live UI, not history. */
export const MigrationProgress = z.object({
  ...base,
  type: z.literal("migration.progress"),
  upid: z.string().optional(),
  transferredBytes: bytes.optional(),
  totalBytes: bytes.optional(),
  percent: z.number().min(0).max(100).optional(),
});

/** Figures PVE reports in the task log; further figures may be added as JSON. */
export const PveFigures = z
  .object({
    durationMs: ms.optional(),
    downtimeMs: ms.optional(),
    transferredBytes: bytes.optional(),
    totalBytes: bytes.optional(),
    /** Bytes per second over the whole transfer. */
    averageSpeed: z.number().nonnegative().optional(),
  })
  .catchall(z.json());
export type PveFigures = z.infer<typeof PveFigures>;

/** What the prober measured while the VM moved; further figures may be added as JSON. */
export const QosFigures = z
  .object({
    /** Longest outage a client saw. */
    observedDowntimeMs: ms.optional(),
    /** Fraction of probes lost, 0..1. */
    loss: z.number().min(0).max(1).optional(),
    delayMs: ms.optional(),
    jitterMs: ms.optional(),
    throughputBps: z.number().nonnegative().optional(),
    /** Figure name → grade label (labels are owned by qos/). */
    grades: z.record(z.string(), z.string()).optional(),
  })
  .catchall(z.json());
export type QosFigures = z.infer<typeof QosFigures>;

export const MigrationResult = z.object({
  ...base,
  type: z.literal("migration.result"),
  status: z.enum(["ok", "failed", "aborted"]),
  target: nodeName.optional(),
  upid: z.string().optional(),
  pve: PveFigures.optional(),
  qos: QosFigures.optional(),
  error: ErrorInfo.optional(),
});

export const EvacuationFinished = z.object({
  ...base,
  type: z.literal("evacuation.finished"),
  status: z.enum(["completed", "stopped", "cancelled", "failed"]),
  summary: z.object({
    moved: z.number().int().nonnegative(),
    failed: z.number().int().nonnegative(),
    skipped: z.number().int().nonnegative(),
    blocked: z.number().int().nonnegative(),
    aborted: z.number().int().nonnegative().optional(),
  }),
});

export const CommandDenied = z.object({
  ...base,
  type: z.literal("command.denied"),
  /** The command as typed, e.g. `/evacuate node1`; the actor is who typed it. */
  command: z.string().min(1),
  reason: z.string().min(1),
});

export const ErrorEvent = z.object({
  ...base,
  type: z.literal("error"),
  ...ErrorInfo.shape,
});

export const AuditEvent = z.discriminatedUnion("type", [
  EvacuationRequested,
  PlanCreated,
  EvacuationConfirmed,
  EvacuationCancelled,
  MigrationQueued,
  MigrationState,
  PrecheckResult,
  MigrationStarted,
  MigrationProgress,
  MigrationResult,
  EvacuationFinished,
  CommandDenied,
  ErrorEvent,
]);
export type AuditEvent = z.infer<typeof AuditEvent>;
export type EventType = AuditEvent["type"];
export type EventOf<T extends EventType> = Extract<AuditEvent, { type: T }>;

export const EVENT_TYPES = AuditEvent.options.map((o) => o.shape.type.value) as readonly EventType[];

/** What callers pass to append: `at` may be left out and is then stamped at append time. */
export type AuditEventInput =
  z.input<typeof AuditEvent> extends infer E
    ? E extends { type: EventType }
      ? Omit<E, "at"> & { at?: string }
      : never
    : never;

/** Progress is the only kind kept out of the log by default (see MigrationProgress). */
export function auditedByDefault(type: EventType): boolean {
  return type !== "migration.progress";
}
