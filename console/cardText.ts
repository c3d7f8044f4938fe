/** Cards as terminal text: title, body, fields as "name: value" blocks, buttons as numbered choices. */
import type { Card, ChatMessage } from "../commands/chatPort.ts";

const MARK = { info: "ℹ", success: "✔", warning: "!", danger: "✖" } as const;

export function cardText(card: Card): string {
  // Titles that start with their own symbol (✅ VM 101 …) keep it alone.
  const own = /^[\p{Extended_Pictographic}▶…⏹⏭]/u.test(card.title);
  const out = [own ? card.title : `${MARK[card.tone ?? "info"]} ${card.title}`];
  for (const line of card.lines ?? []) out.push(`  ${line}`);
  for (const f of card.fields ?? []) {
    const [first, ...rest] = f.value.split("\n");
    if (rest.length === 0 && f.inline) out.push(`  ${f.name}: ${first}`);
    else {
      out.push(`  ${f.name}:`);
      for (const l of [first, ...rest]) out.push(`    ${l}`);
    }
  }
  for (const a of card.attachments ?? []) out.push(`  [attachment ${a.name}, ${a.data.byteLength} bytes]`);
  if (card.buttons && card.buttons.length > 0)
    out.push(
      `  ${card.buttons.map((b, i) => `[${i + 1}] ${b.label}${b.disabled ? " (disabled)" : ""}`).join("  ")}`,
    );
  if (card.footer) out.push(`  — ${card.footer}`);
  return `${out.join("\n")}\n`;
}

export function messageText(message: ChatMessage): string {
  const parts: string[] = [];
  if (message.text) parts.push(`${message.text}\n`);
  for (const card of message.cards ?? []) parts.push(cardText(card));
  return parts.join("");
}
