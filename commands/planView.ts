/**
 * The plan as a card shows it, with its zod schema: a pending plan keeps its view in Redis so the card
 * can be drawn again (settled, without buttons) when someone clicks Confirm or Cancel.
 */
import { z } from "zod";
import type { Plan } from "../planning/plan.ts";

export const PlanView = z.object({
  kind: z.enum(["evacuate", "migrate", "return"]),
  node: z.string(),
  moves: z.array(
    z.object({
      vmid: z.number().int(),
      name: z.string(),
      type: z.string(),
      source: z.string(),
      target: z.string(),
      memoryBytes: z.number(),
      mode: z.string(),
      withLocalDisks: z.boolean(),
      notes: z.array(z.string()),
    }),
  ),
  blocked: z.array(z.object({ vmid: z.number().int(), name: z.string(), reasons: z.array(z.string()) })),
  skipped: z.array(z.object({ vmid: z.number().int(), name: z.string(), reason: z.string() })),
  targets: z
    .array(
      z.object({
        node: z.string(),
        memoryFreeBytes: z.number(),
        memoryFreeAfterBytes: z.number(),
        moves: z.number().int(),
      }),
    )
    .optional(),
});
export type PlanView = z.infer<typeof PlanView>;

/** A planned move as plans are shown and stored (plain data, no planner internals). */
export function moveView(m: Plan["moves"][number]): PlanView["moves"][number] {
  return {
    vmid: m.vmid,
    name: m.name,
    type: m.type,
    source: m.source,
    target: m.target,
    memoryBytes: m.memoryBytes,
    mode: m.mode,
    withLocalDisks: m.withLocalDisks,
    notes: [...m.notes],
  };
}

export function planViewOf(plan: Plan, kind: PlanView["kind"], node = plan.source): PlanView {
  return {
    kind,
    node,
    moves: plan.moves.map(moveView),
    blocked: plan.blocked.map((b) => ({ vmid: b.vmid, name: b.name, reasons: [...b.reasons] })),
    skipped: plan.skipped.map((s) => ({ vmid: s.vmid, name: s.name, reason: s.reason })),
    targets: plan.targets.map((t) => ({
      node: t.node,
      memoryFreeBytes: t.memoryFreeBytes,
      memoryFreeAfterBytes: t.memoryFreeAfterBytes,
      moves: t.moves,
    })),
  };
}
