/**
 * The chat port on a terminal: every message is printed as text; buttons are remembered so the runner
 * can offer them as numbered choices. The terminal user is trusted like the CLI: no role checks here.
 */
import type { CardButton, ChatMessage, ChatPort, ChatUser } from "../commands/chatPort.ts";
import { messageText } from "./cardText.ts";

export interface ConsoleChat extends ChatPort {
  /** Buttons of the last message that had any. */
  readonly buttons: readonly CardButton[];
  readonly printed: readonly ChatMessage[];
}

export function createConsoleChat(o: {
  user: ChatUser;
  write: (text: string) => void;
  channelId?: string;
}): ConsoleChat {
  let buttons: CardButton[] = [];
  const printed: ChatMessage[] = [];
  const show = async (message: ChatMessage) => {
    printed.push(message);
    const withButtons = (message.cards ?? []).flatMap((c) => c.buttons ?? []);
    if (withButtons.length > 0) buttons = withButtons;
    o.write(messageText(message));
  };
  return {
    source: "console",
    user: o.user,
    channelId: o.channelId ?? "console",
    guildId: undefined,
    get buttons() {
      return buttons;
    },
    printed,
    defer: async () => {},
    reply: show,
    update: show,
    followUp: show,
  };
}
