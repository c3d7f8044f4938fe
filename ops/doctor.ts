/**
 * `doctor`: the checks a newcomer (or an operator after a change) runs to learn what is wrong with an
 * installation before anything is migrated. This file holds the verdicts — plain facts in, ok / warn /
 * fail / skip with a message and a fix out — and the report; ops/runDoctor.ts gathers the facts.
 */
import { formatFingerprint } from "../proxmox/tls.ts";
import {
  checkPrivileges,
  describeRequirement,
  type PermissionTree,
  pveumCommands,
  type RequirementResult,
} from "./privileges.ts";

export type CheckStatus = "ok" | "warn" | "fail" | "skip";

export interface DoctorCheck {
  /** Stable id, e.g. `redis.eviction`. */
  id: string;
  status: CheckStatus;
  /** What was found. */
  message: string;
  /** What to do about it (warn/fail). */
  fix?: string;
}

export interface DoctorReport {
  /** False when any check failed. */
  ok: boolean;
  checks: DoctorCheck[];
}

export function report(checks: DoctorCheck[]): DoctorReport {
  return { ok: !checks.some((c) => c.status === "fail"), checks };
}

export function exitCodeOf(r: DoctorReport): number {
  return r.ok ? 0 : 1;
}

const check = (id: string, status: CheckStatus, message: string, fix?: string): DoctorCheck =>
  fix === undefined ? { id, status, message } : { id, status, message, fix };

export const skipped = (id: string, why: string): DoctorCheck => check(id, "skip", why);

export function configCheck(problems: readonly { key: string; reason: string }[]): DoctorCheck {
  if (problems.length === 0) return check("config", "ok", "configuration is valid");
  return check(
    "config",
    "fail",
    `invalid configuration: ${problems.map((p) => `${p.key}: ${p.reason}`).join("; ")}`,
    "Fix the variables named (see .env.example for every variable and its format); checks that depend on them are skipped.",
  );
}

/** BullMQ loses jobs silently when Redis evicts keys under memory pressure. */
export function evictionPolicyCheck(policy: string | undefined): DoctorCheck {
  if (policy === undefined) {
    return check(
      "redis.eviction",
      "warn",
      "could not read maxmemory-policy (CONFIG GET and INFO refused)",
      "Make sure the Redis server runs with maxmemory-policy noeviction: BullMQ requires it.",
    );
  }
  if (policy === "noeviction") return check("redis.eviction", "ok", "maxmemory-policy is noeviction");
  return check(
    "redis.eviction",
    "fail",
    `maxmemory-policy is ${policy}: under memory pressure Redis would delete queued migrations and events`,
    "Set `maxmemory-policy noeviction` in redis.conf (or run `redis-cli CONFIG SET maxmemory-policy noeviction` and `CONFIG REWRITE`); BullMQ requires it.",
  );
}

export interface PersistenceFacts {
  /** appendonly yes/no; undefined when unknown. */
  aof?: boolean;
  /** The `save` setting ("" = RDB snapshots off); undefined when unknown. */
  save?: string;
}

export function persistenceCheck(f: PersistenceFacts): DoctorCheck {
  if (f.aof === true)
    return check("redis.persistence", "ok", "append-only file on: jobs and events survive a restart");
  const fix =
    "Run Redis with `appendonly yes` (and `appendfsync everysec`), as the provided docker-compose.yml does.";
  if (f.aof === undefined) {
    return check("redis.persistence", "warn", "could not read the persistence settings", fix);
  }
  if (f.save !== undefined && f.save.trim() !== "") {
    return check(
      "redis.persistence",
      "warn",
      `append-only file off, RDB snapshots only (save ${f.save}): events and queued jobs since the last snapshot are lost on restart`,
      fix,
    );
  }
  return check(
    "redis.persistence",
    "warn",
    "persistence off (no append-only file, no snapshots): events and queued jobs are lost on restart",
    fix,
  );
}

/** BullMQ refuses Redis older than 5.0.0 and recommends 6.2.0. */
export function redisVersionCheck(version: string | undefined, url: string): DoctorCheck {
  if (version === undefined) return check("redis", "ok", `${url} answers`);
  const [major = 0, minor = 0] = version.split(".").map((n) => Number.parseInt(n, 10));
  if (major < 5) {
    return check(
      "redis",
      "fail",
      `${url} runs Redis ${version}; BullMQ needs 5.0 or newer`,
      "Upgrade Redis (6.2 or newer is recommended).",
    );
  }
  if (major < 6 || (major === 6 && minor < 2)) {
    return check(
      "redis",
      "warn",
      `${url} runs Redis ${version}; BullMQ recommends 6.2 or newer`,
      "Upgrade Redis.",
    );
  }
  return check("redis", "ok", `${url} answers (Redis ${version})`);
}

/** Redis connection failure → an actionable message. */
export function redisFailure(url: string, error: { code?: string; message: string }): DoctorCheck {
  const text = `${error.code ? `${error.code}: ` : ""}${error.message}`;
  if (/NOAUTH|WRONGPASS|invalid password|invalid username/i.test(text)) {
    return check(
      "redis",
      "fail",
      `${url} refused the credentials (${text})`,
      "Put the right user and password in REDIS_URL (redis://user:password@host:6379).",
    );
  }
  return check(
    "redis",
    "fail",
    `cannot reach Redis at ${url} (${text})`,
    "Check REDIS_URL and that Redis runs (`redis-cli -u <REDIS_URL> ping`); with docker compose the URL is redis://redis:6379.",
  );
}

/** Major release from GET /version's `release` ("9.1") or `version` ("9.1.1"). */
export function pveMajorOf(version: { release?: unknown; version?: unknown }): number | undefined {
  for (const v of [version.release, version.version]) {
    if (typeof v === "string") {
      const n = Number.parseInt(v, 10);
      if (Number.isFinite(n)) return n;
    }
  }
  return undefined;
}

export function fingerprintMismatchCheck(
  source: string,
  seen: string | undefined,
  expected: string,
): DoctorCheck {
  return check(
    "pve.tls",
    "fail",
    `the certificate of ${source} has fingerprint ${seen ?? "(none)"}, expected ${formatFingerprint(expected)} (PVE_FINGERPRINT)`,
    "If the certificate was renewed, confirm the new fingerprint on the node (`pvenode cert info`, or the node's Certificates panel) and update PVE_FINGERPRINT; otherwise something else answers at this address.",
  );
}

export function privilegesCheck(
  tree: PermissionTree,
  pveMajor: number | undefined,
  tokenId: string,
): DoctorCheck {
  const results = checkPrivileges(tree, pveMajor);
  const problem = (r: RequirementResult): string => {
    const what = describeRequirement(r.requirement);
    switch (r.status) {
      case "missing":
        return `${what} missing (used for ${r.requirement.why})`;
      case "not-propagated":
        return `${what} granted without propagation, so ${r.requirement.path}/* do not inherit it (used for ${r.requirement.why})`;
      case "partial":
        return `${what} only on ${(r.grantedOn ?? []).join(", ")} (used for ${r.requirement.why}); other ${r.requirement.path === "/vms" ? "guests" : "nodes"} cannot be handled`;
      default:
        return what;
    }
  };
  const required = results.filter((r) => r.status !== "ok" && r.requirement.level === "required");
  const recommended = results.filter((r) => r.status !== "ok" && r.requirement.level === "recommended");
  const granted = results.filter((r) => r.status === "ok").map((r) => describeRequirement(r.requirement));
  const fix = `Grant them (as root on a node): ${pveumCommands(tokenId, pveMajor).join(" && ")}. A privilege-separated token never has more than its user.`;
  if (required.length > 0) {
    const extra = recommended.length > 0 ? `; also recommended: ${recommended.map(problem).join("; ")}` : "";
    return check(
      "pve.privileges",
      "fail",
      `the token lacks: ${required.map(problem).join("; ")}${extra}`,
      fix,
    );
  }
  if (recommended.length > 0) {
    return check(
      "pve.privileges",
      "warn",
      `recommended but missing: ${recommended.map(problem).join("; ")}`,
      fix,
    );
  }
  return check("pve.privileges", "ok", `the token holds ${granted.join(", ")}`);
}

export interface DiscordFacts {
  /** HTTP status of GET /users/@me; undefined when Discord could not be reached. */
  status?: number;
  /** Why Discord could not be reached. */
  error?: string;
  user?: { id?: string; username?: string };
  /** HTTP status of GET /channels/{DISCORD_CHANNEL_ID} with the bot token (asked only when the token works). */
  channelStatus?: number;
}

export function discordCheck(f: DiscordFacts, applicationId: string): DoctorCheck {
  if (f.status === undefined) {
    return check(
      "discord",
      "skip",
      `skipped: Discord not reachable (${f.error ?? "no answer"}); the token was not verified`,
    );
  }
  if (f.status === 401) {
    return check(
      "discord",
      "fail",
      "Discord rejected DISCORD_TOKEN (401 Unauthorized)",
      "Copy the bot token again: Discord Developer Portal → your application → Bot → Reset Token, then set DISCORD_TOKEN.",
    );
  }
  if (f.status !== 200) {
    return check(
      "discord",
      "warn",
      `Discord answered HTTP ${f.status} to GET /users/@me; the token was not verified`,
    );
  }
  const who = `${f.user?.username ?? "?"} (${f.user?.id ?? "?"})`;
  if (f.user?.id !== undefined && f.user.id !== applicationId) {
    return check(
      "discord",
      "warn",
      `the token is valid for bot ${who}, whose id differs from DISCORD_APPLICATION_ID ${applicationId}`,
      "Check DISCORD_APPLICATION_ID (Developer Portal → General Information → Application ID); only applications created before 2019 have a bot id different from the application id.",
    );
  }
  return check("discord", "ok", `the token is valid: bot ${who}`);
}

/** Where progress and results are posted: the bot must see it, or every post is refused. */
export function discordChannelCheck(f: DiscordFacts, channelId: string): DoctorCheck | undefined {
  if (f.status !== 200 || f.channelStatus === undefined) return undefined;
  if (f.channelStatus === 200) return check("discord.channel", "ok", `the bot can see channel ${channelId}`);
  if (f.channelStatus === 403) {
    return check(
      "discord.channel",
      "fail",
      `the bot may not see channel ${channelId} (403): progress and results could not be posted`,
      "Give the bot's role View Channel, Send Messages, Embed Links, Attach Files and Read Message History on that channel.",
    );
  }
  if (f.channelStatus === 404) {
    return check(
      "discord.channel",
      "fail",
      `channel ${channelId} is unknown to the bot (404)`,
      "Check DISCORD_CHANNEL_ID (right-click the channel → Copy Channel ID) and that the bot was invited to that server.",
    );
  }
  return check(
    "discord.channel",
    "warn",
    `Discord answered HTTP ${f.channelStatus} to GET /channels/${channelId}`,
  );
}

const MARK: Record<CheckStatus, string> = { ok: "ok  ", warn: "WARN", fail: "FAIL", skip: "skip" };

export function formatReport(r: DoctorReport): string {
  const width = Math.max(...r.checks.map((c) => c.id.length));
  const lines = r.checks.flatMap((c) => [
    `${MARK[c.status]}  ${c.id.padEnd(width)}  ${c.message}`,
    ...(c.fix !== undefined ? [`${" ".repeat(width + 8)}fix: ${c.fix}`] : []),
  ]);
  const count = (s: CheckStatus) => r.checks.filter((c) => c.status === s).length;
  const summary = r.ok
    ? `All required checks passed${count("warn") > 0 ? ` (${count("warn")} warning${count("warn") > 1 ? "s" : ""})` : ""}.`
    : `${count("fail")} check${count("fail") > 1 ? "s" : ""} failed, ${count("warn")} warning${count("warn") === 1 ? "" : "s"}.`;
  return `${lines.join("\n")}\n\n${summary}\n`;
}
