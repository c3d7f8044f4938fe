import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decideRecovery,
  IllegalTransition,
  MIGRATION_STATES,
  type MigrationEvent,
  type MigrationState,
  TERMINAL_STATES,
  transition,
} from "./migrationState.ts";

const happyPath: MigrationEvent[] = [
  { type: "start" },
  { type: "prechecks-passed" },
  { type: "baseline-done" },
  { type: "task-accepted", upid: "UPID:n1:00000001:00000001:00000001:qmigrate:101:root@pam:", ha: false },
  { type: "task-ended", ok: true, exitStatus: "OK" },
  { type: "finished" },
  { type: "verified" },
];

describe("transition", () => {
  it("walks the happy path to succeeded", () => {
    const states: MigrationState[] = [];
    let state: MigrationState = "queued";
    for (const event of happyPath) {
      state = transition(state, event);
      states.push(state);
    }
    expect(states).toEqual([
      "prechecking",
      "baseline",
      "requesting",
      "migrating",
      "finishing",
      "verifying",
      "succeeded",
    ]);
  });

  it("routes HA guests through ha-requested to the real task", () => {
    const s = transition("requesting", { type: "task-accepted", upid: "u", ha: true });
    expect(s).toBe("ha-requested");
    expect(transition(s, { type: "ha-task-found", upid: "u2" })).toBe("migrating");
    expect(transition(s, { type: "task-ended", ok: false, exitStatus: "rejected" })).toBe("failed");
  });

  it("a failed pre-check blocks and never reaches requesting", () => {
    expect(transition("prechecking", { type: "prechecks-failed", reason: "locked" })).toBe("blocked");
  });

  it("cannot cancel once PVE accepted the migration", () => {
    expect(() => transition("migrating", { type: "cancel" })).toThrow(IllegalTransition);
    expect(transition("baseline", { type: "cancel" })).toBe("cancelled");
  });

  it("terminal states accept no event", () => {
    const events = fc.constantFrom<MigrationEvent>(
      ...happyPath,
      { type: "cancel" },
      { type: "skip", reason: "x" },
    );
    fc.assert(
      fc.property(fc.constantFrom(...TERMINAL_STATES), events, (state, event) => {
        expect(() => transition(state, event)).toThrow(IllegalTransition);
      }),
    );
  });

  it("every state is reachable from queued", () => {
    const seen = new Set<MigrationState>(["queued"]);
    const all: MigrationEvent[] = [
      ...happyPath,
      { type: "task-accepted", upid: "u", ha: true },
      { type: "ha-task-found", upid: "u" },
      { type: "prechecks-failed", reason: "r" },
      { type: "request-failed", reason: "r" },
      { type: "verify-failed", reason: "r" },
      { type: "cancel" },
      { type: "skip", reason: "r" },
    ];
    for (let changed = true; changed; ) {
      changed = false;
      for (const s of [...seen]) {
        for (const e of all) {
          try {
            const next = transition(s, e);
            if (!seen.has(next)) {
              seen.add(next);
              changed = true;
            }
          } catch {}
        }
      }
    }
    expect([...seen].sort()).toEqual([...MIGRATION_STATES].sort());
  });
});

describe("decideRecovery", () => {
  const saved = { source: "node1", target: "node2" };
  const task = (upid: string, type = "qmigrate", running = true) => ({ upid, type, running });

  it("adopts a running task instead of starting a second migration", () => {
    expect(
      decideRecovery(
        { ...saved, step: "requesting" },
        { vmNode: "node1", vmLock: "migrate", migrationTasksSinceRequest: [task("A")] },
      ),
    ).toEqual({ kind: "adopt", upid: "A" });
  });

  it("prefers the real qmigrate over the hamigrate", () => {
    const d = decideRecovery(
      { ...saved, step: "ha-requested", upid: "H" },
      {
        vmNode: "node1",
        vmLock: undefined,
        migrationTasksSinceRequest: [task("H", "hamigrate", false), task("Q", "qmigrate", false)],
      },
    );
    expect(d).toEqual({ kind: "adopt", upid: "Q" });
  });

  it("adopts the saved UPID after the task ended, to read the true outcome", () => {
    expect(
      decideRecovery(
        { ...saved, step: "migrating", upid: "S" },
        { vmNode: "node1", vmLock: undefined, migrationTasksSinceRequest: [] },
      ),
    ).toEqual({ kind: "adopt", upid: "S" });
  });

  it("records a VM that arrived while nobody watched", () => {
    expect(
      decideRecovery(
        { ...saved, step: "requesting" },
        { vmNode: "node2", vmLock: undefined, migrationTasksSinceRequest: [] },
      ),
    ).toEqual({ kind: "already-on-target" });
  });

  it("refuses a VM with a migrate lock and no task", () => {
    const d = decideRecovery(
      { ...saved, step: "queued" },
      { vmNode: "node1", vmLock: "migrate", migrationTasksSinceRequest: [] },
    );
    expect(d.kind).toBe("refuse");
  });

  it("starts fresh when nothing was asked", () => {
    expect(
      decideRecovery(
        { ...saved, step: "baseline" },
        { vmNode: "node1", vmLock: undefined, migrationTasksSinceRequest: [] },
      ),
    ).toEqual({ kind: "fresh" });
  });

  it("never says fresh when a task runs or a migration may have been asked", () => {
    const arb = fc.record({
      step: fc.constantFrom(...MIGRATION_STATES),
      upid: fc.option(fc.constant("S"), { nil: undefined }),
      tasks: fc.array(
        fc.record({
          upid: fc.string(),
          type: fc.constantFrom("qmigrate", "hamigrate"),
          running: fc.boolean(),
        }),
      ),
      vmNode: fc.constantFrom("node1", "node2", undefined),
      vmLock: fc.constantFrom("migrate", "backup", undefined),
    });
    fc.assert(
      fc.property(arb, (a) => {
        const d = decideRecovery(
          { ...saved, step: a.step, ...(a.upid ? { upid: a.upid } : {}) },
          { vmNode: a.vmNode, vmLock: a.vmLock, migrationTasksSinceRequest: a.tasks },
        );
        if (d.kind === "fresh") {
          expect(a.tasks.some((t) => t.running)).toBe(false);
          expect(a.vmLock).not.toBe("migrate");
          expect(
            a.upid !== undefined &&
              ["requesting", "ha-requested", "migrating", "finishing", "verifying"].includes(a.step),
          ).toBe(false);
        }
      }),
    );
  });
});
