/**
 * The chat port over a discord.js interaction. Slash commands answer in their deferred reply; buttons
 * are acknowledged with deferUpdate, so `update` edits the message that carries the buttons and
 * `reply` is a follow-up (ephemeral when asked).
 */
import {
  type BaseMessageOptions,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  GuildMember,
  type Interaction,
  MessageFlags,
} from "discord.js";
import type { ChatMessage, ChatPort, ChatUser } from "../commands/chatPort.ts";
import { renderMessage } from "./render.ts";

export function chatUserOf(interaction: Interaction): ChatUser {
  const member = interaction.member;
  let roles: string[] = [];
  let name = interaction.user.globalName ?? interaction.user.username;
  if (member instanceof GuildMember) {
    roles = [...member.roles.cache.keys()];
    name = member.displayName;
  } else if (member) {
    roles = [...member.roles];
    name = member.nick ?? name;
  }
  return { id: interaction.user.id, name, roles };
}

function messageOptions(message: ChatMessage): BaseMessageOptions & { content?: string } {
  const r = renderMessage(message);
  return {
    ...(r.content !== undefined ? { content: r.content } : {}),
    embeds: r.embeds,
    components: r.components,
    files: r.files.map((f) => ({ attachment: f.data, name: f.name, contentType: f.contentType })),
    allowedMentions: { parse: [], roles: r.allowedMentions.roles },
  };
}

function flagsOf(message: ChatMessage) {
  return message.ephemeral ? MessageFlags.Ephemeral : undefined;
}

export function commandChat(interaction: ChatInputCommandInteraction): ChatPort {
  const answer = async (message: ChatMessage) => {
    if (interaction.deferred || interaction.replied) await interaction.editReply(messageOptions(message));
    else {
      const flags = flagsOf(message);
      await interaction.reply({ ...messageOptions(message), ...(flags ? { flags } : {}) });
    }
  };
  return {
    source: "discord",
    user: chatUserOf(interaction),
    channelId: interaction.channelId,
    guildId: interaction.guildId ?? undefined,
    async defer(options) {
      if (interaction.deferred || interaction.replied) return;
      await interaction.deferReply(options?.ephemeral ? { flags: MessageFlags.Ephemeral } : {});
    },
    reply: answer,
    update: answer,
    async followUp(message) {
      const flags = flagsOf(message);
      await interaction.followUp({ ...messageOptions(message), ...(flags ? { flags } : {}) });
    },
  };
}

export function buttonChat(interaction: ButtonInteraction): ChatPort {
  const followUp = async (message: ChatMessage) => {
    if (!interaction.deferred && !interaction.replied) await interaction.deferUpdate();
    const flags = flagsOf(message);
    await interaction.followUp({ ...messageOptions(message), ...(flags ? { flags } : {}) });
  };
  return {
    source: "discord",
    user: chatUserOf(interaction),
    channelId: interaction.channelId,
    guildId: interaction.guildId ?? undefined,
    async defer() {
      if (interaction.deferred || interaction.replied) return;
      await interaction.deferUpdate();
    },
    reply: followUp,
    async update(message) {
      if (!interaction.deferred && !interaction.replied) await interaction.update(messageOptions(message));
      else await interaction.editReply(messageOptions(message));
    },
    followUp,
  };
}
