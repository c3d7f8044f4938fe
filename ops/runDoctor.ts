/**
 * Gathers what `doctor` judges: the configuration, Redis (INFO / CONFIG GET), the PVE API (GET
 * /version, GET /access/permissions, the certificate it presents) and Discord (GET /users/@me).
 * Every probe fails fast (no retries, short timeouts) and runs side by side; verdicts are in doctor.ts.
 */
import { connect as tlsConnect } from "node:tls";
import { Redis } from "ioredis";
import { z } from "zod";
import { ENV_VARS, loadConfig, loadConfigFromProcess } from "../config/load.ts";
import type { AppConfig, DiscordConfig, PveConfig } from "../config/schema.ts";
import { ConfigError, ErrorCodes, PveApiError } from "../lib/errors.ts";
import { describeRedisUrl } from "../lib/redis.ts";
import { createHttpPveClient, httpClientOptionsFromConfig } from "../proxmox/httpClient.ts";
import { formatFingerprint, normalizeFingerprint } from "../proxmox/tls.ts";
import {
  configCheck,
  type DiscordFacts,
  type DoctorCheck,
  type DoctorReport,
  discordChannelCheck,
  discordCheck,
  evictionPolicyCheck,
  fingerprintMismatchCheck,
  persistenceCheck,
  privilegesCheck,
  pveMajorOf,
  redisFailure,
  redisVersionCheck,
  report,
  skipped,
} from "./doctor.ts";

export const DISCORD_API = "https://discord.com/api";
export const DISCORD_API_VERSION = "10";

export interface DoctorOptions {
  env?: NodeJS.ProcessEnv;
  /** Per network probe; default 8000 ms. */
  timeoutMs?: number;
  /** Injectable for tests; default the global fetch. */
  fetch?: typeof fetch;
}

type Section = "pve" | "discord" | "redis" | "other";

function sectionOf(key: string): Section {
  const name = key.replace(/_FILE$/, "");
  const path = ENV_VARS.find((v) => v.name === name)?.path ?? (key.split(".") as [string, ...string[]]);
  const head = path[0];
  if (head === "pve" || head === "discord") return head;
  if (head === "redisUrl" || head === "redisPrefix") return "redis";
  return "other";
}

interface LoadedConfig {
  config?: AppConfig;
  problems: { key: string; reason: string }[];
  /** Sections whose settings are invalid: their checks are skipped rather than run on defaults. */
  broken: Set<Section>;
}

/** Loads the config; when some sections are invalid, loads the rest without them so it can be checked. */
export function loadForDoctor(env: NodeJS.ProcessEnv): LoadedConfig {
  try {
    return { config: loadConfigFromProcess(env), problems: [], broken: new Set() };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const problems = [...e.problems];
    const broken = new Set(problems.map((p) => sectionOf(p.key)));
    if (problems.some((p) => p.key === "PVE_EVACUATE_CONFIG")) return { problems, broken };
    const names = new Set(ENV_VARS.filter((v) => broken.has(sectionOf(v.name))).map((v) => v.name));
    const rest = Object.fromEntries(
      Object.entries(env).filter(([k]) => !names.has(k) && !names.has(k.replace(/_FILE$/, ""))),
    );
    try {
      return { config: loadConfigFromProcess(rest), problems, broken };
    } catch {
      try {
        // A config file may hold the broken section too; the env alone still tells something.
        return { config: loadConfig({ env: rest }), problems, broken };
      } catch {
        return { problems, broken };
      }
    }
  }
}

/** Key/value lines of a Redis INFO answer. */
export function parseRedisInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(":");
    if (i > 0 && !line.startsWith("#")) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

async function configGet(redis: Redis, name: string): Promise<string | undefined> {
  try {
    const reply = (await redis.config("GET", name)) as unknown;
    return Array.isArray(reply) && typeof reply[1] === "string" ? reply[1] : undefined;
  } catch {
    // Managed Redis services often disable CONFIG; INFO still tells most of it.
    return undefined;
  }
}

function errorInfo(e: unknown): { code?: string; message: string } {
  let current: unknown = e;
  let code: string | undefined;
  let message = e instanceof Error ? e.message : String(e);
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const c = (current as NodeJS.ErrnoException).code;
    if (typeof c === "string") {
      code = c;
      message = current.message;
    }
    current = current.cause;
  }
  return code === undefined ? { message } : { code, message };
}

export async function redisChecks(url: string, timeoutMs: number): Promise<DoctorCheck[]> {
  const shown = describeRedisUrl(url);
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
  });
  // The socket error (ECONNREFUSED, ENOTFOUND...) only comes as an event; the rejected call just says
  // "Connection is closed". Without a listener ioredis would also print it.
  let socketError: unknown;
  redis.on("error", (e) => {
    socketError ??= e;
  });
  const rest = (why: string) => [skipped("redis.eviction", why), skipped("redis.persistence", why)];
  try {
    await redis.connect();
    const info = parseRedisInfo(await redis.info());
    const policy = (await configGet(redis, "maxmemory-policy")) ?? info.maxmemory_policy;
    const appendonly = (await configGet(redis, "appendonly")) ?? info.aof_enabled;
    const save = await configGet(redis, "save");
    return [
      redisVersionCheck(info.redis_version, shown),
      evictionPolicyCheck(policy),
      persistenceCheck({
        ...(appendonly === undefined ? {} : { aof: appendonly === "yes" || appendonly === "1" }),
        ...(save === undefined ? {} : { save }),
      }),
    ];
  } catch (e) {
    return [redisFailure(shown, errorInfo(socketError ?? e)), ...rest("Redis not reachable")];
  } finally {
    redis.disconnect();
  }
}

/** SHA-256 of the certificate a TLS server presents, `AA:BB:...`; undefined when none came. */
export function peerFingerprint(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    // Only looks at the certificate, sends nothing: verification is what is being diagnosed.
    const socket = tlsConnect({
      host,
      port,
      rejectUnauthorized: false,
      ...(/^[\d.:]+$/.test(host) ? {} : { servername: host }),
    });
    const done = (fp: string | undefined) => {
      socket.destroy();
      resolve(fp);
    };
    socket.setTimeout(timeoutMs, () => done(undefined));
    socket.once("secureConnect", () => done(socket.getPeerCertificate()?.fingerprint256 || undefined));
    socket.once("error", () => done(undefined));
  });
}

const PermissionTreeSchema = z.record(z.string(), z.record(z.string(), z.union([z.number(), z.boolean()])));

export async function pveChecks(pve: PveConfig, timeoutMs: number): Promise<DoctorCheck[]> {
  const source = `${pve.host}:${pve.port}`;
  let client: ReturnType<typeof createHttpPveClient>;
  try {
    client = createHttpPveClient({
      ...httpClientOptionsFromConfig(pve),
      retries: 0,
      timeoutMs: Math.min(pve.timeoutMs, timeoutMs),
    });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const problems = e.problems.map((p) => `${p.key}: ${p.reason}`).join("; ");
    return [
      {
        id: "pve",
        status: "fail",
        message: `cannot build the API client: ${problems}`,
        fix: "Fix the variables named.",
      },
      skipped("pve.tls", "no client"),
      skipped("pve.token", "no client"),
      skipped("pve.privileges", "no client"),
    ];
  }
  const trust =
    pve.fingerprint !== undefined
      ? `matches the pinned fingerprint ${formatFingerprint(pve.fingerprint)}`
      : `chains to ${pve.caFile ?? "the CA"}`;
  try {
    let version: Record<string, unknown>;
    try {
      const raw = await client.rawGet("/version");
      version = typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>) : {};
    } catch (e) {
      if (!(e instanceof PveApiError)) throw e;
      if (e.code === ErrorCodes.PveTls) {
        const seen = await peerFingerprint(pve.host, pve.port, timeoutMs);
        const pinned = pve.fingerprint;
        const tls: DoctorCheck =
          pinned !== undefined && (seen === undefined || normalizeFingerprint(seen) !== pinned)
            ? fingerprintMismatchCheck(source, seen, pinned)
            : {
                id: "pve.tls",
                status: "fail",
                message: e.detail.pveMessage,
                ...(seen !== undefined
                  ? {
                      fix: `The server presents a certificate with fingerprint ${seen}; if you confirm it on the node (\`pvenode cert info\`), you may pin it with PVE_FINGERPRINT instead of PVE_CA_FILE.`,
                    }
                  : {}),
              };
        return [
          { id: "pve", status: "ok", message: `${source} answers TLS` },
          tls,
          skipped("pve.token", "not tried: the certificate is not trusted"),
          skipped("pve.privileges", "not tried: the certificate is not trusted"),
        ];
      }
      if (e.detail.status === 401) {
        return [
          { id: "pve", status: "ok", message: `${source} answers` },
          { id: "pve.tls", status: "ok", message: `the certificate ${trust}` },
          {
            id: "pve.token",
            status: "fail",
            message: `PVE refused the API token ${pve.tokenId} (401 ${e.detail.pveMessage})`,
            fix: "Check PVE_TOKEN_ID (user@realm!tokenname) and PVE_TOKEN_SECRET (the UUID shown once when the token was created), and that the token and its user are enabled and not expired (Datacenter → Permissions → API Tokens).",
          },
          skipped("pve.privileges", "not tried: the token was refused"),
        ];
      }
      return [
        {
          id: "pve",
          status: "fail",
          message: e.message,
          fix: "Check PVE_HOST and PVE_PORT (8006) and that pveproxy runs on the node.",
        },
        skipped("pve.tls", "PVE not reachable"),
        skipped("pve.token", "PVE not reachable"),
        skipped("pve.privileges", "PVE not reachable"),
      ];
    }
    const major = pveMajorOf(version);
    const release = typeof version.version === "string" ? ` ${version.version}` : "";
    const checks: DoctorCheck[] = [
      { id: "pve", status: "ok", message: `${source} answers: Proxmox VE${release}` },
      { id: "pve.tls", status: "ok", message: `the certificate ${trust}` },
      { id: "pve.token", status: "ok", message: `the API token ${pve.tokenId} is accepted` },
    ];
    try {
      const tree = PermissionTreeSchema.parse(await client.rawGet("/access/permissions"));
      checks.push(privilegesCheck(tree, major, pve.tokenId));
    } catch (e) {
      checks.push({
        id: "pve.privileges",
        status: e instanceof PveApiError && e.detail.status === 501 ? "warn" : "fail",
        message: `cannot read the token's permissions (GET /access/permissions): ${e instanceof Error ? e.message : String(e)}`,
      });
    }
    return checks;
  } finally {
    await client.close();
  }
}

export async function discordFacts(
  discord: DiscordConfig,
  timeoutMs: number,
  doFetch: typeof fetch = fetch,
): Promise<DiscordFacts> {
  const base = (discord.apiBase ?? DISCORD_API).replace(/\/+$/, "");
  try {
    const res = await doFetch(`${base}/v${DISCORD_API_VERSION}/users/@me`, {
      headers: { Authorization: `Bot ${discord.token.reveal()}` },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (res.status !== 200) {
      await res.body?.cancel();
      return { status: res.status };
    }
    const body = (await res.json()) as { id?: unknown; username?: unknown };
    const channel = await doFetch(`${base}/v${DISCORD_API_VERSION}/channels/${discord.channelId}`, {
      headers: { Authorization: `Bot ${discord.token.reveal()}` },
      signal: AbortSignal.timeout(timeoutMs),
    });
    await channel.body?.cancel();
    return {
      status: 200,
      user: {
        ...(typeof body.id === "string" ? { id: body.id } : {}),
        ...(typeof body.username === "string" ? { username: body.username } : {}),
      },
      channelStatus: channel.status,
    };
  } catch (e) {
    const info = errorInfo(e);
    return { error: info.code ?? info.message };
  }
}

export async function runDoctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  const env = options.env ?? process.env;
  const timeoutMs = options.timeoutMs ?? 8000;
  const { config, problems, broken } = loadForDoctor(env);
  const notConfigured = (ids: string[], why: string) => ids.map((id) => skipped(id, why));

  const redis =
    config && !broken.has("redis")
      ? redisChecks(config.redisUrl, timeoutMs)
      : Promise.resolve(notConfigured(["redis", "redis.eviction", "redis.persistence"], "REDIS_* invalid"));

  const pveIds = ["pve", "pve.tls", "pve.token", "pve.privileges"];
  const pve: Promise<DoctorCheck[]> = broken.has("pve")
    ? Promise.resolve(notConfigured(pveIds, "PVE_* invalid"))
    : !config
      ? Promise.resolve(notConfigured(pveIds, "configuration invalid"))
      : config.pve
        ? pveChecks(config.pve, timeoutMs)
        : Promise.resolve([
            {
              id: "pve",
              status: "fail",
              message: "no Proxmox VE cluster configured (PVE_HOST unset)",
              fix: "Set PVE_HOST, PVE_TOKEN_ID, PVE_TOKEN_SECRET and PVE_FINGERPRINT (or PVE_CA_FILE); to try the tool without a cluster, run `pve-evacuate lab` and paste the lines it prints.",
            } satisfies DoctorCheck,
            ...notConfigured(pveIds.slice(1), "no cluster configured"),
          ]);

  const discord: Promise<DoctorCheck[]> = broken.has("discord")
    ? Promise.resolve(notConfigured(["discord"], "DISCORD_* invalid"))
    : config?.discord
      ? discordFacts(config.discord, timeoutMs, options.fetch).then((f) => {
          const channel = discordChannelCheck(f, config.discord?.channelId ?? "");
          return [discordCheck(f, config.discord?.applicationId ?? ""), ...(channel ? [channel] : [])];
        })
      : Promise.resolve(
          notConfigured(
            ["discord"],
            config
              ? "Discord not configured (DISCORD_TOKEN unset): the bot cannot start; terminal commands work"
              : "configuration invalid",
          ),
        );

  const [r, p, d] = await Promise.all([redis, pve, discord]);
  return report([configCheck(problems), ...r, ...p, ...d]);
}
