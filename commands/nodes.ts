/** `/nodes`: cluster health: online, memory, running guests, maintenance state. */
import { SlashCommandBuilder } from "discord.js";
import { z } from "zod";
import { nodesCard } from "./cards.ts";
import { defineCommand } from "./command.ts";

const Options = z.object({});
type Options = z.infer<typeof Options>;

export const nodes = defineCommand<Options>({
  name: "nodes",
  definition: new SlashCommandBuilder()
    .setName("nodes")
    .setDescription("Cluster health: nodes online, memory, running guests, maintenance"),
  access: () => "read",
  options: Options,
  async handle({ chat, deps }) {
    await chat.defer();
    await chat.reply({ cards: [nodesCard(await deps.cluster.refresh())] });
    return undefined;
  },
});
