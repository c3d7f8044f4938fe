/**
 * loadConfig is pure: env + optional file contents in, a validated config or *all* problems out.
 * The env var table below is the single source for names (README and .env.example follow it).
 */
import { readFileSync } from "node:fs";
import { ConfigError } from "../lib/errors.ts";
import { AppConfig } from "./schema.ts";

type Path = readonly [string, ...string[]];

/** env var → config path. Secrets also accept `<VAR>_FILE`. */
export const ENV_VARS: ReadonlyArray<{ name: string; path: Path; secret?: boolean; help: string }> = [
  { name: "PVE_HOST", path: ["pve", "host"], help: "Proxmox VE host name or address" },
  { name: "PVE_PORT", path: ["pve", "port"], help: "API port (default 8006)" },
  { name: "PVE_TOKEN_ID", path: ["pve", "tokenId"], help: "API token id, user@realm!name" },
  { name: "PVE_TOKEN_SECRET", path: ["pve", "tokenSecret"], secret: true, help: "API token secret (UUID)" },
  { name: "PVE_CA_FILE", path: ["pve", "caFile"], help: "PEM CA file the PVE certificate chains to" },
  {
    name: "PVE_FINGERPRINT",
    path: ["pve", "fingerprint"],
    help: "SHA-256 fingerprint of the PVE certificate",
  },
  { name: "PVE_TIMEOUT_MS", path: ["pve", "timeoutMs"], help: "timeout per API request (default 15000)" },
  { name: "PVE_RETRIES", path: ["pve", "retries"], help: "retries for GET requests (default 3)" },
  { name: "REDIS_URL", path: ["redisUrl"], help: "Redis URL (default redis://127.0.0.1:6379)" },
  { name: "REDIS_PREFIX", path: ["redisPrefix"], help: "prefix of all Redis keys (default pve-evacuate)" },
  { name: "DISCORD_TOKEN", path: ["discord", "token"], secret: true, help: "bot token" },
  { name: "DISCORD_APPLICATION_ID", path: ["discord", "applicationId"], help: "application id" },
  { name: "DISCORD_GUILD_ID", path: ["discord", "guildId"], help: "guild (server) id" },
  { name: "DISCORD_CHANNEL_ID", path: ["discord", "channelId"], help: "channel for progress and results" },
  {
    name: "DISCORD_ALLOWED_CHANNEL_IDS",
    path: ["discord", "allowedChannelIds"],
    help: "comma-separated channels where commands are accepted",
  },
  {
    name: "DISCORD_OPERATOR_ROLE_IDS",
    path: ["discord", "operatorRoleIds"],
    help: "roles allowed to run changing commands",
  },
  {
    name: "DISCORD_VIEWER_ROLE_IDS",
    path: ["discord", "viewerRoleIds"],
    help: "roles allowed read-only commands",
  },
  {
    name: "DISCORD_NOTIFY_ROLE_ID",
    path: ["discord", "notifyRoleId"],
    help: "role mentioned on start/fail/finish",
  },
  { name: "DISCORD_API_BASE", path: ["discord", "apiBase"], help: "Discord API base URL (tests only)" },
  {
    name: "MIGRATION_HEADROOM_BYTES",
    path: ["migration", "headroomBytes"],
    help: "memory kept free on targets",
  },
  { name: "MIGRATION_ORDER", path: ["migration", "order"], help: "smallest-first | largest-first | vmid" },
  { name: "MIGRATION_ON_FAILURE", path: ["migration", "onFailure"], help: "stop | continue" },
  {
    name: "MIGRATION_PINNED_TAGS",
    path: ["migration", "pinnedTags"],
    help: "tags that keep a guest in place",
  },
  {
    name: "MIGRATION_WITH_LOCAL_DISKS",
    path: ["migration", "withLocalDisks"],
    help: "allow local-disk migration",
  },
  {
    name: "MIGRATION_BWLIMIT_KIB",
    path: ["migration", "bwlimitKiB"],
    help: "bandwidth limit KiB/s (0 = PVE default)",
  },
  { name: "MIGRATION_POLL_INTERVAL_MS", path: ["migration", "pollIntervalMs"], help: "task poll interval" },
  {
    name: "MIGRATION_LOCK_TTL_MS",
    path: ["migration", "lockTtlMs"],
    help: "after this long a dead worker's migration is adopted by another (default 30000)",
  },
  {
    name: "MIGRATION_HA_TASK_TIMEOUT_MS",
    path: ["migration", "haTaskTimeoutMs"],
    help: "how long to wait for HA to start the migration task (default 60000)",
  },
  {
    name: "MIGRATION_PLAN_TTL_MS",
    path: ["migration", "planTtlMs"],
    help: "how long a plan can be confirmed",
  },
  { name: "QOS_METHOD", path: ["qos", "method"], help: "icmp | tcp | none" },
  { name: "QOS_INTERVAL_MS", path: ["qos", "intervalMs"], help: "probe interval (default 10)" },
  { name: "QOS_TCP_PORT", path: ["qos", "tcpPort"], help: "TCP port probed (default 22)" },
  { name: "QOS_BASELINE_MS", path: ["qos", "baselineMs"], help: "probe time before migrating" },
  { name: "QOS_TAIL_MS", path: ["qos", "tailMs"], help: "probe time after migrating" },
  {
    name: "QOS_REFERENCE_BANDWIDTH_BPS",
    path: ["qos", "referenceBandwidthBps"],
    help: "bandwidth graded against",
  },
  { name: "QOS_LABELS", path: ["qos", "labels"], help: "en | id (Indonesian grade labels)" },
  {
    name: "QOS_ADDRESS_TAG_PREFIX",
    path: ["qos", "addressTagPrefix"],
    help: "tag prefix giving a probe address",
  },
  {
    name: "QOS_ALLOW_LOOPBACK",
    path: ["qos", "allowLoopback"],
    help: "probe 127.0.0.1 addresses (lab only)",
  },
  { name: "LOG_LEVEL", path: ["logLevel"], help: "pino level (default info)" },
  { name: "METRICS_PORT", path: ["metricsPort"], help: "port for /metrics and /healthz" },
];

type Tree = { [key: string]: unknown };
type Problem = { key: string; reason: string };

function setPath(tree: Tree, path: Path, value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== "object" || next === null) node[key] = {};
    node = node[key] as Tree;
  }
  node[path[path.length - 1] as string] = value;
}

function envNameFor(path: readonly PropertyKey[]): string {
  const joined = path.map(String).join(".");
  const exact = ENV_VARS.find((v) => v.path.join(".") === joined);
  if (exact) return exact.name;
  // A refine on a section reports the section's first missing key; fall back to the dotted path.
  return joined.length > 0 ? joined : "(config)";
}

export interface ConfigSources {
  env: Readonly<Record<string, string | undefined>>;
  /** Parsed JSON of the config file, if any. Env vars win over the file. */
  file?: unknown;
  /** Reads `*_FILE` secrets; injectable for tests. */
  readSecretFile?: (path: string) => string;
}

export function loadConfig(sources: ConfigSources): AppConfig {
  const problems: Problem[] = [];
  const tree: Tree =
    typeof sources.file === "object" && sources.file !== null ? structuredClone(sources.file as Tree) : {};
  const readSecret = sources.readSecretFile ?? ((p: string) => readFileSync(p, "utf8"));

  for (const v of ENV_VARS) {
    let value = sources.env[v.name];
    const fileVar = sources.env[`${v.name}_FILE`];
    if (v.secret && fileVar !== undefined && fileVar !== "") {
      if (value !== undefined) {
        problems.push({ key: v.name, reason: `set either ${v.name} or ${v.name}_FILE, not both` });
        continue;
      }
      try {
        value = readSecret(fileVar).trim();
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? "unreadable";
        problems.push({ key: `${v.name}_FILE`, reason: `cannot read ${fileVar} (${code})` });
        continue;
      }
    }
    if (value !== undefined && value !== "") setPath(tree, v.path, value);
  }

  const parsed = AppConfig.safeParse(tree);
  if (!parsed.success) {
    // A secret whose file could not be read is already reported; "missing" on top of it would only confuse.
    const reported = new Set(problems.map((p) => p.key.replace(/_FILE$/, "")));
    for (const issue of parsed.error.issues) {
      const key = envNameFor(issue.path);
      if (!reported.has(key)) problems.push({ key, reason: issue.message });
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return parsed.data;
}

/** Reads PVE_EVACUATE_CONFIG (a JSON file) if set, then the environment. */
export function loadConfigFromProcess(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const file = env.PVE_EVACUATE_CONFIG;
  let parsedFile: unknown;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? "unreadable";
      throw new ConfigError([{ key: "PVE_EVACUATE_CONFIG", reason: `cannot read ${file} (${code})` }]);
    }
    try {
      parsedFile = JSON.parse(text);
    } catch (e) {
      throw new ConfigError([
        { key: "PVE_EVACUATE_CONFIG", reason: `${file} is not JSON: ${(e as Error).message}` },
      ]);
    }
  }
  return loadConfig({ env, file: parsedFile });
}
