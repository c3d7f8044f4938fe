/**
 * The chat port: all a command handler may do with the chat it was invoked from. Discord (bot/) and the
 * terminal (console/) implement it, so one handler serves both. Messages are plain "cards", never
 * Discord embeds: the adapters decide how a card looks.
 */

export type CardTone = "info" | "success" | "warning" | "danger";
export type ButtonStyle = "primary" | "secondary" | "success" | "danger";

export interface CardField {
  name: string;
  value: string;
  inline?: boolean;
}

export interface CardButton {
  /** Routed by the adapter's global handler: `<prefix>:<action>:<state id>` (see commands/registry.ts). */
  id: string;
  label: string;
  style: ButtonStyle;
  disabled?: boolean;
}

export interface CardAttachment {
  name: string;
  data: Uint8Array;
  contentType: string;
}

export interface Card {
  title: string;
  /** Body text, one entry per line. */
  lines?: string[];
  fields?: CardField[];
  buttons?: CardButton[];
  /** Files sent with the card (the result chart, the audit CSV). */
  attachments?: CardAttachment[];
  /** Name of an attachment shown as the card's picture. */
  image?: string;
  tone?: CardTone;
  footer?: string;
}

export interface ChatMessage {
  /** Plain text above the cards. */
  text?: string;
  cards?: Card[];
  /** Only the invoking user sees it (where the chat supports that). */
  ephemeral?: boolean;
  /** Role to notify; the adapter turns it into a mention that actually pings. */
  mentionRoleId?: string;
}

export interface ChatUser {
  id: string;
  /** Display name at the time of the interaction. */
  name: string;
  roles: readonly string[];
}

export interface ChatPort {
  readonly source: "discord" | "console";
  readonly user: ChatUser;
  readonly channelId: string;
  readonly guildId: string | undefined;
  /** Acknowledges now and answers later; adapters that already acknowledged ignore it. */
  defer(options?: { ephemeral?: boolean }): Promise<void>;
  /** The answer to this interaction (replaces the deferred "thinking…" state). */
  reply(message: ChatMessage): Promise<void>;
  /** Button interactions: replaces the message that carried the button. Commands: same as reply. */
  update(message: ChatMessage): Promise<void>;
  /** A further message after the answer. */
  followUp(message: ChatMessage): Promise<void>;
}

/** What a handler hands back to its adapter: the evacuations it queued, for the terminal to follow. */
export interface CommandOutcome {
  evacuationIds?: string[];
}

export function textCard(title: string, lines: string[] = [], tone: CardTone = "info"): Card {
  return { title, lines, tone };
}
