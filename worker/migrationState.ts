/**
 * The life of one VM's migration as data. States are named after what PVE is doing at that moment;
 * `transition` is the only way to move between them, so the job's persisted `step` always names a
 * state this table knows and a restarted worker can resume from it.
 */

export const MIGRATION_STATES = [
  "queued",
  "prechecking",
  "baseline",
  /** POST migrate sent, UPID not yet saved: a crash here needs the VM's active task to be found. */
  "requesting",
  /** HA-managed guest: the `hamigrate` task runs; the real `qmigrate` starts later on the source. */
  "ha-requested",
  "migrating",
  "finishing",
  "verifying",
  "succeeded",
  "failed",
  "blocked",
  "cancelled",
  "skipped",
] as const;

export type MigrationState = (typeof MIGRATION_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<MigrationState> = new Set([
  "succeeded",
  "failed",
  "blocked",
  "cancelled",
  "skipped",
]);

export type MigrationEvent =
  | { type: "start" }
  | { type: "prechecks-passed" }
  | { type: "prechecks-failed"; reason: string }
  | { type: "baseline-done" }
  | { type: "task-accepted"; upid: string; ha: boolean }
  | { type: "ha-task-found"; upid: string }
  | { type: "task-ended"; ok: boolean; exitStatus: string }
  | { type: "finished" }
  | { type: "verified" }
  | { type: "verify-failed"; reason: string }
  | { type: "request-failed"; reason: string }
  | { type: "cancel" }
  | { type: "skip"; reason: string };

export class IllegalTransition extends Error {
  override readonly name = "IllegalTransition";
  constructor(
    readonly from: MigrationState,
    readonly event: MigrationEvent["type"],
  ) {
    super(`migration state machine: "${event}" is not allowed in state "${from}"`);
  }
}

/** Pure: the next state, or IllegalTransition. Cancel is honoured only before PVE accepted the call. */
export function transition(from: MigrationState, event: MigrationEvent): MigrationState {
  const illegal = () => new IllegalTransition(from, event.type);
  if (TERMINAL_STATES.has(from)) throw illegal();
  switch (event.type) {
    case "start":
      if (from === "queued") return "prechecking";
      throw illegal();
    case "skip":
      if (from === "queued" || from === "prechecking") return "skipped";
      throw illegal();
    case "cancel":
      if (from === "queued" || from === "prechecking" || from === "baseline") return "cancelled";
      throw illegal();
    case "prechecks-passed":
      if (from === "prechecking") return "baseline";
      throw illegal();
    case "prechecks-failed":
      if (from === "prechecking") return "blocked";
      throw illegal();
    case "baseline-done":
      if (from === "baseline") return "requesting";
      throw illegal();
    case "request-failed":
      if (from === "requesting" || from === "ha-requested") return "failed";
      throw illegal();
    case "task-accepted":
      if (from === "requesting") return event.ha ? "ha-requested" : "migrating";
      throw illegal();
    case "ha-task-found":
      if (from === "ha-requested") return "migrating";
      throw illegal();
    case "task-ended":
      if (from === "migrating") return "finishing";
      if (from === "ha-requested" && !event.ok) return "failed";
      throw illegal();
    case "finished":
      if (from === "finishing") return "verifying";
      throw illegal();
    case "verified":
      if (from === "verifying") return "succeeded";
      throw illegal();
    case "verify-failed":
      if (from === "verifying") return "failed";
      throw illegal();
    default: {
      const exhaustive: never = event;
      return exhaustive;
    }
  }
}

/** Facts read from PVE when a job is picked up again after a crash. */
export interface RecoveryFacts {
  /** Node the VM is on now (undefined if PVE does not list it). */
  vmNode: string | undefined;
  vmLock: string | undefined;
  /** Migration tasks (qmigrate/hamigrate) of this VM started since the job first asked, newest first. */
  migrationTasksSinceRequest: readonly { upid: string; type: string; running: boolean }[];
}

export type RecoveryDecision =
  /** Follow an existing task instead of starting a second migration; its status and log tell the outcome. */
  | { kind: "adopt"; upid: string }
  /** The VM is on the target but no task can be found: verify and record without PVE figures. */
  | { kind: "already-on-target" }
  /** Nothing was started: safe to run normally. */
  | { kind: "fresh" }
  /** Something else holds the VM; do not touch it. */
  | { kind: "refuse"; reason: string };

const ASKED_STATES: ReadonlySet<MigrationState> = new Set([
  "requesting",
  "ha-requested",
  "migrating",
  "finishing",
  "verifying",
]);

/**
 * Pure: what a worker does with a job it picks up, given what PVE says now.
 * The rule that matters: never POST migrate for a VM that has a migration task running, a migrate
 * lock, or a task we may have started before a crash.
 */
export function decideRecovery(
  saved: { step: MigrationState; upid?: string; source: string; target: string },
  facts: RecoveryFacts,
): RecoveryDecision {
  const tasks = facts.migrationTasksSinceRequest;
  const running = tasks.find((t) => t.running && t.type === "qmigrate") ?? tasks.find((t) => t.running);
  if (running) return { kind: "adopt", upid: running.upid };
  const askedBefore = ASKED_STATES.has(saved.step);
  if (askedBefore) {
    // The real qmigrate carries the figures; the hamigrate only says the CRM accepted the request.
    const ended = tasks.find((t) => t.type === "qmigrate") ?? tasks[0];
    if (ended) return { kind: "adopt", upid: ended.upid };
    if (saved.upid) return { kind: "adopt", upid: saved.upid };
    if (facts.vmNode === saved.target) return { kind: "already-on-target" };
  }
  if (facts.vmLock === "migrate") {
    return {
      kind: "refuse",
      reason: `VM is locked (migrate) but no migration task of it runs on ${saved.source}; check the node's task list and run 'qm unlock' only if nothing runs`,
    };
  }
  return { kind: "fresh" };
}
