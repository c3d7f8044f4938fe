/** `/evacuation status` and `/evacuation cancel [abort_running] [id]`: what runs and waits; stop it. */
import { SlashCommandBuilder } from "discord.js";
import { z } from "zod";
import { cancelCard, statusCard } from "./cards.ts";
import { actorOf, defineCommand } from "./command.ts";
import { flag } from "./options.ts";

const Options = z.discriminatedUnion("subcommand", [
  z.object({ subcommand: z.literal("status") }),
  z.object({
    subcommand: z.literal("cancel"),
    abort_running: flag,
    id: z
      .string()
      .trim()
      .regex(/^ev[0-9a-f]{14,}$/, "an evacuation id looks like ev20260101120000a1b2c3")
      .optional(),
  }),
]);
type Options = z.infer<typeof Options>;

export const evacuation = defineCommand<Options>({
  name: "evacuation",
  definition: new SlashCommandBuilder()
    .setName("evacuation")
    .setDescription("What runs and what waits; cancel it")
    .addSubcommand((s) => s.setName("status").setDescription("show running evacuations and their queue"))
    .addSubcommand((s) =>
      s
        .setName("cancel")
        .setDescription("drop the migrations that have not started")
        .addBooleanOption((o) =>
          o.setName("abort_running").setDescription("also abort the migration that is running now"),
        )
        .addStringOption((o) => o.setName("id").setDescription("which evacuation (default: the newest)")),
    ),
  access: (raw) => (raw.subcommand === "cancel" ? "change" : "read"),
  options: Options,
  async handle({ chat, options, deps }) {
    await chat.defer();
    if (options.subcommand === "status") {
      await chat.reply({ cards: [statusCard(await deps.queue.status())] });
      return undefined;
    }
    const outcome = await deps.queue.cancel({
      ...(options.id ? { evacuationId: options.id } : {}),
      abortRunning: options.abort_running,
      by: actorOf(chat),
      pve: deps.pve,
    });
    await chat.reply({ cards: [cancelCard(outcome)] });
    return undefined;
  },
});
