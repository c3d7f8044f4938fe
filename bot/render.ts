/**
 * Cards as Discord messages: embeds, button rows, attachments and allowed mentions, cut to Discord's
 * limits (an over-long embed is refused as a whole, so every text is clipped with "…" here). Pure.
 */
import {
  type APIActionRowComponent,
  type APIButtonComponentWithCustomId,
  type APIComponentInMessageActionRow,
  type APIEmbed,
  ButtonStyle,
  ComponentType,
} from "discord.js";
import type { Card, ChatMessage } from "../commands/chatPort.ts";

export const LIMITS = {
  content: 2000,
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  embedTotal: 6000,
  embeds: 10,
  buttonsPerRow: 5,
  rows: 5,
  buttonLabel: 80,
} as const;

const COLORS = { info: 0x3b82f6, success: 0x16a34a, warning: 0xf59e0b, danger: 0xdc2626 } as const;

const STYLES = {
  primary: ButtonStyle.Primary,
  secondary: ButtonStyle.Secondary,
  success: ButtonStyle.Success,
  danger: ButtonStyle.Danger,
} as const;

export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, Math.max(0, max - 1))}…`;
}

export interface RenderedFile {
  name: string;
  data: Buffer;
  contentType: string;
}

export interface RenderedMessage {
  content?: string;
  embeds: APIEmbed[];
  components: APIActionRowComponent<APIComponentInMessageActionRow>[];
  files: RenderedFile[];
  /** Only the role asked for may be pinged; user and @everyone mentions never are. */
  allowedMentions: { parse: []; roles: string[] };
  ephemeral: boolean;
}

function embedSize(e: APIEmbed): number {
  return (
    (e.title?.length ?? 0) +
    (e.description?.length ?? 0) +
    (e.footer?.text.length ?? 0) +
    (e.fields ?? []).reduce((s, f) => s + f.name.length + f.value.length, 0)
  );
}

export function renderEmbed(card: Card): APIEmbed {
  const embed: APIEmbed = {
    title: clip(card.title, LIMITS.title),
    color: COLORS[card.tone ?? "info"],
  };
  const description = (card.lines ?? []).join("\n");
  if (description) embed.description = clip(description, LIMITS.description);
  const fields = (card.fields ?? []).slice(0, LIMITS.fields).map((f) => ({
    name: clip(f.name || "\u200b", LIMITS.fieldName),
    value: clip(f.value || "\u200b", LIMITS.fieldValue),
    ...(f.inline ? { inline: true } : {}),
  }));
  if (fields.length > 0) embed.fields = fields;
  if (card.footer) embed.footer = { text: clip(card.footer, LIMITS.footer) };
  if (card.image) embed.image = { url: `attachment://${card.image}` };
  // Over the total: drop fields from the end, then shorten the description.
  while (embedSize(embed) > LIMITS.embedTotal && embed.fields && embed.fields.length > 0) embed.fields.pop();
  if (embedSize(embed) > LIMITS.embedTotal && embed.description) {
    const over = embedSize(embed) - LIMITS.embedTotal;
    embed.description = clip(embed.description, Math.max(1, embed.description.length - over));
  }
  return embed;
}

export function renderMessage(message: ChatMessage): RenderedMessage {
  const cards = (message.cards ?? []).slice(0, LIMITS.embeds);
  const buttons: APIButtonComponentWithCustomId[] = cards
    .flatMap((c) => c.buttons ?? [])
    .slice(0, LIMITS.buttonsPerRow * LIMITS.rows)
    .map((b) => ({
      type: ComponentType.Button,
      custom_id: b.id,
      label: clip(b.label, LIMITS.buttonLabel),
      style: STYLES[b.style],
      ...(b.disabled ? { disabled: true } : {}),
    }));
  const components: APIActionRowComponent<APIComponentInMessageActionRow>[] = [];
  for (let i = 0; i < buttons.length; i += LIMITS.buttonsPerRow)
    components.push({
      type: ComponentType.ActionRow,
      components: buttons.slice(i, i + LIMITS.buttonsPerRow),
    });
  const mention = message.mentionRoleId ? `<@&${message.mentionRoleId}> ` : "";
  const text = `${mention}${message.text ?? ""}`.trim();
  const rendered: RenderedMessage = {
    embeds: cards.map(renderEmbed),
    components,
    files: cards.flatMap((c) =>
      (c.attachments ?? []).map((a) => ({
        name: a.name,
        data: Buffer.from(a.data),
        contentType: a.contentType,
      })),
    ),
    allowedMentions: { parse: [], roles: message.mentionRoleId ? [message.mentionRoleId] : [] },
    ephemeral: message.ephemeral === true,
  };
  if (text) rendered.content = clip(text, LIMITS.content);
  return rendered;
}

/** The JSON body of a channel message (POST/PATCH /channels/{id}/messages) with its attachment list. */
export function channelMessageBody(r: RenderedMessage) {
  return {
    content: r.content ?? "",
    embeds: r.embeds,
    components: r.components,
    allowed_mentions: { parse: r.allowedMentions.parse, roles: r.allowedMentions.roles },
    attachments: r.files.map((f, i) => ({ id: i, filename: f.name })),
  };
}
