/**
 * The Discord bot: a discord.js client with one global interaction router, the progress tracker and
 * the event-log notifier. Commands, buttons and notifications all work from Redis state, so stopping
 * and starting the bot (or running a new one) loses nothing.
 */
import { Client, type ClientOptions, Events, GatewayIntentBits } from "discord.js";
import type { Redis } from "ioredis";
import type { EventLog } from "../audit/eventLog.ts";
import type { AccessPolicy } from "../commands/access.ts";
import type { ClusterCache } from "../commands/clusterCache.ts";
import type { CommandDeps } from "../commands/command.ts";
import { createCommandDeps } from "../commands/deps.ts";
import type { AppConfig, DiscordConfig } from "../config/schema.ts";
import { ConfigError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import type { PveClient } from "../proxmox/port.ts";
import type { EvacuationQueue } from "../worker/queue.ts";
import { createChannelPoster } from "./channelPoster.ts";
import { createEventNotifier } from "./eventNotifier.ts";
import { createProgressTracker, type ProgressTracker } from "./progressTracker.ts";
import { createInteractionRouter } from "./router.ts";

export interface BotOptions {
  config: AppConfig;
  redis: Redis;
  pve: PveClient;
  events: EventLog;
  queue: EvacuationQueue;
  logger: Logger;
  /** REST settings for discord.js (tests: `{ api: fake.restApi }`); default from config.discord.apiBase. */
  restOptions?: ClientOptions["rest"];
  clientOptions?: Partial<ClientOptions>;
  prefix?: string;
  minEditIntervalMs?: number;
  progressTickMs?: number;
  cluster?: ClusterCache;
}

export interface Bot {
  client: Client;
  progress: ProgressTracker;
  deps: CommandDeps;
  /** Logs in and resolves once the client is ready and the notifier runs. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function discordConfigOf(config: AppConfig): DiscordConfig {
  if (!config.discord)
    throw new ConfigError([
      {
        key: "DISCORD_TOKEN",
        reason:
          "not set: the bot needs DISCORD_TOKEN, DISCORD_APPLICATION_ID, DISCORD_GUILD_ID and DISCORD_CHANNEL_ID",
      },
    ]);
  return config.discord;
}

export function accessPolicyOf(d: DiscordConfig): AccessPolicy {
  return {
    guildId: d.guildId,
    channelId: d.channelId,
    allowedChannelIds: d.allowedChannelIds,
    operatorRoleIds: d.operatorRoleIds,
    viewerRoleIds: d.viewerRoleIds,
  };
}

export function createBot(o: BotOptions): Bot {
  const discord = discordConfigOf(o.config);
  const prefix = o.prefix ?? o.config.redisPrefix;
  const log = o.logger.child({ component: "bot" });
  const rest: ClientOptions["rest"] = o.restOptions ?? (discord.apiBase ? { api: discord.apiBase } : {});
  const client = new Client({
    intents: [GatewayIntentBits.Guilds],
    rest,
    ...o.clientOptions,
  });
  const deps = createCommandDeps({ ...o, prefix });
  const poster = createChannelPoster(client);
  const progress = createProgressTracker({
    redis: o.redis,
    prefix,
    queue: o.queue,
    poster,
    channelId: discord.channelId,
    ...(discord.notifyRoleId ? { notifyRoleId: discord.notifyRoleId } : {}),
    logger: o.logger,
    ...(o.minEditIntervalMs !== undefined ? { minEditIntervalMs: o.minEditIntervalMs } : {}),
  });
  const notifier = createEventNotifier({
    events: o.events,
    queue: o.queue,
    redis: o.redis,
    prefix,
    poster,
    progress,
    channelId: discord.channelId,
    ...(discord.notifyRoleId ? { notifyRoleId: discord.notifyRoleId } : {}),
    logger: o.logger,
  });
  const route = createInteractionRouter({ ...deps, access: accessPolicyOf(discord) });
  client.on(Events.InteractionCreate, (interaction) => {
    void route(interaction);
  });
  client.on(Events.Error, (e) => log.error({ err: e }, "discord client error"));

  return {
    client,
    progress,
    deps,
    async start() {
      const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
      await client.login(discord.token.reveal());
      await ready;
      log.info({ user: client.user?.tag, guild: discord.guildId }, "bot ready");
      // Warm the autocomplete cache; a failure only means the first autocomplete waits.
      deps.cluster.view().catch(() => undefined);
      await notifier.start();
      progress.run(o.progressTickMs);
    },
    async stop() {
      await notifier.stop();
      await progress.stop();
      await client.destroy();
    },
  };
}
