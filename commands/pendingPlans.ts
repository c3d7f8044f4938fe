/**
 * Plans waiting for their Confirm/Cancel click, kept in Redis with a TTL (config.migration.planTtlMs).
 * The buttons carry only the plan id, so a click works after a bot restart, on any bot process.
 * Taking a plan is atomic and leaves a note of what happened (confirmed or cancelled, by whom) for a
 * day, so a second click is told exactly why nothing happens instead of "expired".
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { z } from "zod";
import { Actor } from "../worker/jobData.ts";
import { PlanView } from "./planView.ts";

export const PendingMove = z.object({
  vmid: z.number().int(),
  name: z.string(),
  type: z.enum(["qemu", "lxc"]),
  target: z.string(),
  memoryBytes: z.number().int().min(0),
  mode: z.enum(["live", "offline", "restart"]),
  withLocalDisks: z.boolean(),
});
export type PendingMove = z.infer<typeof PendingMove>;

export const PendingPlan = z.object({
  id: z.string(),
  kind: z.enum(["evacuate", "migrate", "return"]),
  /** The node the command was about: the evacuated node, the VM's node, the node returned to. */
  node: z.string(),
  /** One evacuation per source node (a return may gather VMs from several nodes). */
  groups: z.array(z.object({ source: z.string(), moves: z.array(PendingMove).min(1) })).min(1),
  /** What the card showed, to draw it again once settled. */
  view: PlanView,
  requestedBy: Actor,
  channelId: z.string(),
  createdAt: z.number().int(),
  expiresAt: z.number().int(),
});
export type PendingPlan = z.infer<typeof PendingPlan>;

export const PlanOutcome = z.object({
  action: z.enum(["confirmed", "cancelled"]),
  by: Actor,
  at: z.number().int(),
  evacuationIds: z.array(z.string()).default([]),
});
export type PlanOutcome = z.infer<typeof PlanOutcome>;

export interface PendingPlans {
  readonly ttlMs: number;
  save(input: Omit<PendingPlan, "id" | "createdAt" | "expiresAt">): Promise<PendingPlan>;
  get(id: string): Promise<PendingPlan | undefined>;
  /** Removes the plan and records the outcome, atomically; undefined when someone took it first or it expired. */
  take(id: string, outcome: Omit<PlanOutcome, "at" | "evacuationIds">): Promise<PendingPlan | undefined>;
  /** Adds the evacuations a confirmed plan became to its outcome note. */
  noteEvacuations(id: string, evacuationIds: string[]): Promise<void>;
  /** What became of a plan that is no longer pending; undefined when it simply expired (or never was). */
  outcome(id: string): Promise<PlanOutcome | undefined>;
}

const OUTCOME_TTL_S = 24 * 3600;

const TAKE = `
local plan = redis.call("GET", KEYS[1])
if not plan then return false end
redis.call("DEL", KEYS[1])
redis.call("SET", KEYS[2], ARGV[1], "EX", ARGV[2])
return plan`;

export const PLAN_ID = /^[0-9a-f]{16}$/;

export function createPendingPlans(o: {
  redis: Redis;
  prefix: string;
  ttlMs: number;
  now?: () => number;
}): PendingPlans {
  const now = o.now ?? Date.now;
  const planKey = (id: string) => `${o.prefix}:plan:${id}`;
  const outcomeKey = (id: string) => `${o.prefix}:plan:${id}:outcome`;
  const valid = (id: string) => PLAN_ID.test(id);

  return {
    ttlMs: o.ttlMs,
    async save(input) {
      const createdAt = now();
      const plan = PendingPlan.parse({
        ...input,
        id: randomBytes(8).toString("hex"),
        createdAt,
        expiresAt: createdAt + o.ttlMs,
      });
      await o.redis.set(planKey(plan.id), JSON.stringify(plan), "PX", o.ttlMs);
      return plan;
    },
    async get(id) {
      if (!valid(id)) return undefined;
      const raw = await o.redis.get(planKey(id));
      return raw ? PendingPlan.parse(JSON.parse(raw)) : undefined;
    },
    async take(id, outcome) {
      if (!valid(id)) return undefined;
      const note: PlanOutcome = { ...outcome, at: now(), evacuationIds: [] };
      const raw = await o.redis.eval(
        TAKE,
        2,
        planKey(id),
        outcomeKey(id),
        JSON.stringify(note),
        OUTCOME_TTL_S,
      );
      return typeof raw === "string" ? PendingPlan.parse(JSON.parse(raw)) : undefined;
    },
    async noteEvacuations(id, evacuationIds) {
      const raw = await o.redis.get(outcomeKey(id));
      if (!raw) return;
      const note = PlanOutcome.parse(JSON.parse(raw));
      await o.redis.set(
        outcomeKey(id),
        JSON.stringify({ ...note, evacuationIds: [...note.evacuationIds, ...evacuationIds] }),
        "EX",
        OUTCOME_TTL_S,
      );
    },
    async outcome(id) {
      if (!valid(id)) return undefined;
      const raw = await o.redis.get(outcomeKey(id));
      return raw ? PlanOutcome.parse(JSON.parse(raw)) : undefined;
    },
  };
}
