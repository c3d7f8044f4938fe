import { describe, expect, it } from "vitest";
import { AuditEvent, auditedByDefault, EVENT_TYPES } from "./events.ts";
import { SAMPLE_EVENTS } from "./sampleEvents.ts";

describe("AuditEvent", () => {
  it("has a sample of every kind, and each parses unchanged", () => {
    expect(Object.keys(SAMPLE_EVENTS).sort()).toEqual([...EVENT_TYPES].sort());
    for (const event of Object.values(SAMPLE_EVENTS)) expect(AuditEvent.parse(event)).toEqual(event);
  });

  it("refuses an unknown kind, a loose time and a fractional vmid", () => {
    const base = SAMPLE_EVENTS["evacuation.confirmed"];
    expect(AuditEvent.safeParse({ ...base, type: "evacuation.exploded" }).success).toBe(false);
    expect(AuditEvent.safeParse({ ...base, at: "yesterday" }).success).toBe(false);
    expect(AuditEvent.safeParse({ ...base, vmid: 101.5 }).success).toBe(false);
    expect(AuditEvent.safeParse({ ...base, actor: { kind: "robot", id: "r" } }).success).toBe(false);
  });

  it("takes another module's plan as it is, dropping undefined fields, but only if it is JSON", () => {
    const plan = { moves: [{ vmid: 101, target: undefined }], note: undefined };
    const parsed = AuditEvent.parse({ ...SAMPLE_EVENTS["plan.created"], plan });
    expect(parsed).toMatchObject({ plan: { moves: [{ vmid: 101 }] } });
    expect(JSON.stringify(parsed)).not.toContain("undefined");
    expect(AuditEvent.safeParse({ ...SAMPLE_EVENTS["plan.created"], plan: { size: 10n } }).success).toBe(
      false,
    );
  });

  it("keeps extra figures on results, as JSON", () => {
    const sample = SAMPLE_EVENTS["migration.result"];
    const parsed = AuditEvent.parse({ ...sample, pve: { ...sample.pve, rounds: 4 } });
    expect(parsed).toMatchObject({ pve: { rounds: 4 } });
  });

  it("audits every kind but progress by default", () => {
    expect(EVENT_TYPES.filter((t) => !auditedByDefault(t))).toEqual(["migration.progress"]);
  });
});
