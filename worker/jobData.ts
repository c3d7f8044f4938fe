/**
 * What a migration job carries through Redis. Parsed with zod whenever a worker picks a job up, so a
 * job written by an older or broken producer fails loudly instead of migrating the wrong thing.
 */
import { z } from "zod";
import { MIGRATION_STATES } from "./migrationState.ts";

export const Actor = z.object({
  kind: z.enum(["discord", "cli", "worker", "system"]),
  id: z.string(),
  name: z.string().optional(),
});
export type Actor = z.infer<typeof Actor>;

export const MigrationJobData = z.object({
  evacuationId: z.string().min(1),
  vmid: z.number().int().min(100),
  name: z.string(),
  type: z.enum(["qemu", "lxc"]),
  source: z.string().min(1),
  target: z.string().min(1),
  mode: z.enum(["live", "offline", "restart"]),
  memoryBytes: z.number().int().min(0),
  order: z.number().int().min(0),
  /** How many VMs the evacuation moves, for "3 of 7" in progress messages. */
  of: z.number().int().min(1),
  withLocalDisks: z.boolean().default(false),
  requestedBy: Actor,
  /** Persisted before anything is awaited, so a restarted worker knows where this VM was. */
  step: z.enum(MIGRATION_STATES).default("queued"),
  /** Epoch ms when the POST migrate was about to be sent; tasks started after it may be ours. */
  requestedAtEpochMs: z.number().int().optional(),
  upid: z.string().optional(),
  /** The `hamigrate` task of an HA-managed guest; `upid` becomes the real `qmigrate` once found. */
  haUpid: z.string().optional(),
});
export type MigrationJobData = z.infer<typeof MigrationJobData>;
export type MigrationJobInput = z.input<typeof MigrationJobData>;
