/**
 * One schema for all configuration. Every key has an env var (PVE_EVACUATE_* prefix-free names below)
 * and a place in the optional JSON config file; secrets may come from `<VAR>_FILE`.
 */
import { z } from "zod";
import { Secret } from "../lib/secret.ts";

const secret = z
  .string()
  .min(1)
  .transform((v) => new Secret(v));
const port = z.coerce.number().int().min(1).max(65535);
const positiveMs = z.coerce.number().int().positive();
const boolFromEnv = z
  .union([z.boolean(), z.enum(["1", "0", "true", "false", "yes", "no"])])
  .transform((v) => (typeof v === "boolean" ? v : v === "1" || v === "true" || v === "yes"));
const csv = z
  .union([z.array(z.string()), z.string()])
  .transform((v) => (Array.isArray(v) ? v : v.split(",")).map((s) => s.trim()).filter((s) => s.length > 0));

export const PveConfig = z
  .object({
    host: z.string().min(1),
    port: port.default(8006),
    tokenId: z.string().regex(/^[^@\s]+@[^!\s]+![A-Za-z0-9._-]+$/, "must look like user@realm!tokenname"),
    tokenSecret: secret,
    /** PEM file of the CA that signed the PVE certificate (e.g. /etc/pve/pve-root-ca.pem). */
    caFile: z.string().min(1).optional(),
    /** SHA-256 fingerprint of the PVE certificate, `AA:BB:...` (as the GUI shows) or plain hex. */
    fingerprint: z
      .string()
      .transform((v) => v.replace(/:/g, "").toLowerCase())
      .pipe(
        z.string().regex(/^[0-9a-f]{64}$/, "must be a SHA-256 fingerprint (64 hex digits, colons allowed)"),
      )
      .optional(),
    timeoutMs: positiveMs.default(15_000),
    retries: z.coerce.number().int().min(0).max(10).default(3),
  })
  .refine((c) => c.caFile !== undefined || c.fingerprint !== undefined, {
    message: "set PVE_CA_FILE or PVE_FINGERPRINT: the certificate must be verified",
    path: ["caFile"],
  });
export type PveConfig = z.infer<typeof PveConfig>;

export const DiscordConfig = z.object({
  token: secret,
  applicationId: z.string().regex(/^\d{17,20}$/, "must be a Discord snowflake (17-20 digits)"),
  guildId: z.string().regex(/^\d{17,20}$/, "must be a Discord snowflake (17-20 digits)"),
  channelId: z.string().regex(/^\d{17,20}$/, "must be a Discord snowflake (17-20 digits)"),
  /** Channels where commands are accepted; defaults to channelId. */
  allowedChannelIds: csv.default([]),
  /** Roles that may run changing commands (evacuate, migrate, cancel, return). */
  operatorRoleIds: csv.default([]),
  /** Roles that may run read-only commands (status, audit, nodes); operators may too. */
  viewerRoleIds: csv.default([]),
  /** Role mentioned on start, failure and finish; none when unset. */
  notifyRoleId: z.string().optional(),
  /** Discord API base (tests point it at the fake Discord). */
  apiBase: z.string().url().optional(),
});
export type DiscordConfig = z.infer<typeof DiscordConfig>;

export const MigrationPolicy = z.object({
  /** Free memory kept on a target after everything planned onto it, in bytes. */
  headroomBytes: z.coerce
    .number()
    .int()
    .min(0)
    .default(1024 ** 3),
  order: z.enum(["smallest-first", "largest-first", "vmid"]).default("smallest-first"),
  onFailure: z.enum(["stop", "continue"]).default("stop"),
  /** Tags that keep a guest where it is. */
  pinnedTags: csv.default(["pinned", "no-evacuate"]),
  withLocalDisks: boolFromEnv.default(false),
  /** Bandwidth limit per migration in KiB/s; 0 = PVE's default. */
  bwlimitKiB: z.coerce.number().int().min(0).default(0),
  pollIntervalMs: positiveMs.default(1000),
  planTtlMs: positiveMs.default(10 * 60_000),
  /** How long a dead worker's job and lock live before another worker adopts its migration. */
  lockTtlMs: positiveMs.default(30_000),
  /** How long to wait for HA to start the real qmigrate after an hamigrate. */
  haTaskTimeoutMs: positiveMs.default(60_000),
});
export type MigrationPolicy = z.infer<typeof MigrationPolicy>;

export const QosPolicy = z.object({
  method: z.enum(["icmp", "tcp", "none"]).default("tcp"),
  intervalMs: positiveMs.default(10),
  tcpPort: port.default(22),
  baselineMs: positiveMs.default(2000),
  tailMs: positiveMs.default(2000),
  /** Bandwidth the throughput grade is measured against, bits per second. */
  referenceBandwidthBps: z.coerce.number().positive().default(1e9),
  labels: z.enum(["en", "id"]).default("en"),
  /** Tag prefix that overrides the probe address, e.g. `probe-10.0.0.5`; `probe-port-8080` sets the port. */
  addressTagPrefix: z.string().default("probe-"),
  /** Probe 127.0.0.1 when the guest agent reports it (only the lab's VMs answer there). */
  allowLoopback: boolFromEnv.default(false),
});
export type QosPolicy = z.infer<typeof QosPolicy>;

export const AppConfig = z.object({
  pve: PveConfig.optional(),
  redisUrl: z.string().url().default("redis://127.0.0.1:6379"),
  /** Prefix of every Redis key (queue, events, evacuations): two installations can share a Redis. */
  redisPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, "letters, digits, '_', '.', '-' only")
    .default("pve-evacuate"),
  discord: DiscordConfig.optional(),
  migration: MigrationPolicy.default(MigrationPolicy.parse({})),
  qos: QosPolicy.default(QosPolicy.parse({})),
  logLevel: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  metricsPort: port.optional(),
});
export type AppConfig = z.infer<typeof AppConfig>;
