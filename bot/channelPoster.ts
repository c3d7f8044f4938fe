/**
 * Channel messages with the bot token (REST), for everything that outlives an interaction: progress,
 * results, summaries. Interaction tokens die after 15 minutes; an evacuation can take hours.
 */
import { type APIMessage, type Client, Routes } from "discord.js";
import type { ChatMessage } from "../commands/chatPort.ts";
import { channelMessageBody, renderMessage } from "./render.ts";

export interface ChannelPoster {
  post(channelId: string, message: ChatMessage): Promise<string>;
  /** Replaces the embeds (and text, when given) of a message the bot posted. */
  edit(channelId: string, messageId: string, message: ChatMessage): Promise<void>;
}

export function createChannelPoster(client: Client): ChannelPoster {
  return {
    async post(channelId, message) {
      const r = renderMessage(message);
      const sent = (await client.rest.post(Routes.channelMessages(channelId), {
        body: channelMessageBody(r),
        files: r.files.map((f) => ({ name: f.name, data: f.data, contentType: f.contentType })),
      })) as APIMessage;
      return sent.id;
    },
    async edit(channelId, messageId, message) {
      const r = renderMessage(message);
      const { content, attachments: _none, ...body } = channelMessageBody(r);
      await client.rest.patch(Routes.channelMessage(channelId, messageId), {
        body: message.text === undefined ? body : { ...body, content },
      });
    },
  };
}

/**
 * True for an answer Discord will give again however often we ask (missing access, unknown channel or
 * message, invalid body): retrying only burns the invalid-request budget. 429 and 5xx are transient.
 */
export function isPermanentDiscordError(e: unknown): boolean {
  const status =
    typeof e === "object" && e !== null && "status" in e ? (e as { status: unknown }).status : undefined;
  return typeof status === "number" && status >= 400 && status < 500 && status !== 429;
}
