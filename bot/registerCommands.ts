/**
 * Puts the slash commands on Discord (bulk overwrite): on the configured guild (instant, for one server)
 * or globally (every server the bot is in; Discord may take a while to show them). Only REST, no gateway.
 */
import { REST, Routes } from "discord.js";
import { commandDefinitions } from "../commands/registry.ts";
import type { DiscordConfig } from "../config/schema.ts";

export interface RegisterResult {
  scope: "guild" | "global";
  guildId?: string;
  names: string[];
}

export async function registerCommands(o: {
  discord: DiscordConfig;
  global?: boolean;
  /** REST base, e.g. the fake Discord's; default config.discord.apiBase or Discord itself. */
  api?: string;
}): Promise<RegisterResult> {
  const api = o.api ?? o.discord.apiBase;
  const rest = new REST({ version: "10", ...(api ? { api } : {}) }).setToken(o.discord.token.reveal());
  const body = commandDefinitions();
  const route = o.global
    ? Routes.applicationCommands(o.discord.applicationId)
    : Routes.applicationGuildCommands(o.discord.applicationId, o.discord.guildId);
  const saved = (await rest.put(route, { body })) as { name: string }[];
  return {
    scope: o.global ? "global" : "guild",
    ...(o.global ? {} : { guildId: o.discord.guildId }),
    names: saved.map((c) => c.name),
  };
}
