/**
 * Button ids: `<prefix>:<action>:<state id>`. The id is all a click carries back; the state it names
 * lives in Redis, so any bot process (or the same one after a restart) can act on it.
 */

export interface CustomId {
  prefix: string;
  action: string;
  id: string;
}

const PART = /^[a-z][a-z0-9-]*$/;

export function customId(prefix: string, action: string, id: string): string {
  if (!PART.test(prefix) || !PART.test(action)) throw new Error(`bad custom id parts ${prefix}:${action}`);
  const text = `${prefix}:${action}:${id}`;
  // Discord's limit for custom_id.
  if (text.length > 100) throw new Error("custom id longer than 100 characters");
  return text;
}

export function parseCustomId(text: string): CustomId | undefined {
  const m = /^([a-z][a-z0-9-]*):([a-z][a-z0-9-]*):([A-Za-z0-9_-]{1,80})$/.exec(text);
  return m ? { prefix: m[1] as string, action: m[2] as string, id: m[3] as string } : undefined;
}
