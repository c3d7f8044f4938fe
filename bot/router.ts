/**
 * The one global `interactionCreate` handler. Every interaction is acknowledged before any I/O: a
 * refusal is answered at once, an allowed command is deferred, a button gets deferUpdate. State lives
 * in Redis (the button names it), never in collectors, so buttons keep working across restarts.
 */
import {
  ApplicationCommandOptionType,
  type AutocompleteInteraction,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type CommandInteractionOption,
  type Interaction,
  MessageFlags,
} from "discord.js";
import { type AccessLevel, type AccessPolicy, decideAccess } from "../commands/access.ts";
import { errorCard } from "../commands/cards.ts";
import type { ChatPort } from "../commands/chatPort.ts";
import { actorOf, type CommandDeps, commandLine, type RawOptions } from "../commands/command.ts";
import { parseCustomId } from "../commands/customIds.ts";
import { commandNamed, componentHandlerFor } from "../commands/registry.ts";
import { PveApiError, UserError, userMessage } from "../lib/errors.ts";
import { buttonChat, chatUserOf, commandChat } from "./discordChat.ts";

export interface RouterDeps extends CommandDeps {
  access: AccessPolicy;
  /** Autocomplete gives up after this and offers nothing (Discord drops answers after 3 s). */
  autocompleteTimeoutMs?: number;
}

export function rawOptionsOf(data: readonly CommandInteractionOption[]): RawOptions {
  const raw: RawOptions = {};
  for (const o of data) {
    if (
      o.type === ApplicationCommandOptionType.Subcommand ||
      o.type === ApplicationCommandOptionType.SubcommandGroup
    ) {
      raw.subcommand = o.name;
      Object.assign(raw, rawOptionsOf(o.options ?? []));
    } else if (typeof o.value === "string" || typeof o.value === "number" || typeof o.value === "boolean") {
      raw[o.name] = o.value;
    }
  }
  return raw;
}

export function createInteractionRouter(deps: RouterDeps) {
  const log = deps.logger.child({ component: "router" });

  function check(interaction: Interaction, level: AccessLevel) {
    return decideAccess(
      deps.access,
      {
        guildId: interaction.guildId ?? undefined,
        channelId: interaction.channelId ?? "",
        roles: chatUserOf(interaction).roles,
      },
      level,
    );
  }

  async function deny(
    interaction: ChatInputCommandInteraction | ButtonInteraction,
    command: string,
    reason: string,
  ) {
    await interaction.reply({ content: reason, flags: MessageFlags.Ephemeral });
    const user = chatUserOf(interaction);
    await deps.events
      .append({
        type: "command.denied",
        actor: { kind: "discord", id: user.id, name: user.name },
        command,
        reason,
      })
      .catch((e) => log.error({ err: e }, "could not audit a denied command"));
  }

  async function fail(chat: ChatPort, e: unknown, what: string) {
    if (!(e instanceof UserError)) {
      log.error({ err: e, what }, "command failed");
      await deps.events
        .append({
          type: "error",
          actor: actorOf(chat),
          code: e instanceof PveApiError ? e.code : "INTERNAL",
          message: `${what}: ${userMessage(e)}`,
          ...(e instanceof PveApiError ? { pve: e.detail } : {}),
        })
        .catch((err) => log.error({ err }, "could not audit an error"));
    }
    await chat
      .reply({ cards: [errorCard(userMessage(e))], ephemeral: true })
      .catch((err) => log.warn({ err }, "could not tell the user about a failure"));
  }

  async function onCommand(interaction: ChatInputCommandInteraction) {
    const command = commandNamed(interaction.commandName);
    if (!command) {
      await interaction.reply({
        content: `Unknown command /${interaction.commandName}: the command list may be out of date (pve-evacuate register-commands).`,
        flags: MessageFlags.Ephemeral,
      });
      return;
    }
    const raw = rawOptionsOf(interaction.options.data);
    const decision = check(interaction, command.access(raw));
    if (!decision.allowed) {
      await deny(interaction, commandLine(command.name, raw), decision.reason);
      return;
    }
    await interaction.deferReply(command.ephemeral ? { flags: MessageFlags.Ephemeral } : {});
    const chat = commandChat(interaction);
    try {
      await command.run(chat, raw, deps);
    } catch (e) {
      await fail(chat, e, commandLine(command.name, raw));
    }
  }

  async function onButton(interaction: ButtonInteraction) {
    const id = parseCustomId(interaction.customId);
    const handler = id ? componentHandlerFor(id.prefix) : undefined;
    if (!id || !handler) {
      await interaction.reply({
        content: "This button belongs to nothing pve-evacuate knows.",
        flags: MessageFlags.Ephemeral,
      });
      return;
    }
    const decision = check(interaction, handler.access);
    if (!decision.allowed) {
      await deny(interaction, `${id.action} ${id.prefix} ${id.id}`, decision.reason);
      return;
    }
    await interaction.deferUpdate();
    const chat = buttonChat(interaction);
    try {
      await handler.handle({ chat, action: id.action, id: id.id, deps });
    } catch (e) {
      await fail(chat, e, `${id.action} ${id.prefix} ${id.id}`);
    }
  }

  async function onAutocomplete(interaction: AutocompleteInteraction) {
    const command = commandNamed(interaction.commandName);
    const focused = interaction.options.getFocused(true);
    if (!command?.autocomplete || !check(interaction, "read").allowed) {
      await interaction.respond([]);
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<[]>((resolve) => {
      timer = setTimeout(() => resolve([]), deps.autocompleteTimeoutMs ?? 2500);
    });
    try {
      const choices = await Promise.race([
        command.autocomplete(
          { name: focused.name, value: String(focused.value) },
          rawOptionsOf(interaction.options.data),
          deps,
        ),
        timeout,
      ]);
      const numeric =
        focused.type === ApplicationCommandOptionType.Integer ||
        focused.type === ApplicationCommandOptionType.Number;
      await interaction.respond(
        choices
          .filter((c) => !numeric || Number.isFinite(Number(c.value)))
          .map((c) => ({ name: c.name, value: numeric ? Number(c.value) : c.value })),
      );
    } finally {
      clearTimeout(timer);
    }
  }

  return async function route(interaction: Interaction): Promise<void> {
    try {
      if (interaction.isChatInputCommand()) await onCommand(interaction);
      else if (interaction.isButton()) await onButton(interaction);
      else if (interaction.isAutocomplete()) await onAutocomplete(interaction);
    } catch (e) {
      // Acknowledging itself failed (token gone, Discord unreachable): nothing left to answer.
      log.error({ err: e, interaction: interaction.id }, "interaction could not be answered");
    }
  };
}
