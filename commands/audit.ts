/** `/audit [node] [vm] [user] [since] [limit]`: the newest audit entries, all of them as a CSV file. */
import { SlashCommandBuilder } from "discord.js";
import { z } from "zod";
import { type EventFilter, formatCsv, parseSince } from "../audit/query.ts";
import { auditCard } from "./cards.ts";
import { nodeChoices, vmChoices } from "./choices.ts";
import { defineCommand } from "./command.ts";
import { nodeName } from "./options.ts";

const Options = z.object({
  node: nodeName.optional(),
  vm: z.coerce.number().int().min(100, "a VM id is 100 or more").optional(),
  user: z.string().trim().min(1).max(100).optional(),
  since: z.string().trim().min(1).max(40).optional(),
  limit: z.number().int().min(1).max(1000).default(50),
});
type Options = z.infer<typeof Options>;

export const audit = defineCommand<Options>({
  name: "audit",
  definition: new SlashCommandBuilder()
    .setName("audit")
    .setDescription("The audit log: who asked what, plans, every state change and result (CSV attached)")
    .addStringOption((o) =>
      o.setName("node").setDescription("about this node (source or target)").setAutocomplete(true),
    )
    .addIntegerOption((o) =>
      o.setName("vm").setDescription("about this VM id").setMinValue(100).setAutocomplete(true),
    )
    .addStringOption((o) => o.setName("user").setDescription("by this user (Discord id or name)"))
    .addStringOption((o) =>
      o.setName("since").setDescription("from: 2026-01-01, or a span ago: 30m, 24h, 7d"),
    )
    .addIntegerOption((o) =>
      o.setName("limit").setDescription("newest n entries (default 50)").setMinValue(1).setMaxValue(1000),
    ),
  access: () => "read",
  ephemeral: true,
  options: Options,
  async handle({ chat, options, deps }) {
    await chat.defer({ ephemeral: true });
    const filter: EventFilter = {};
    if (options.node) filter.node = options.node;
    if (options.vm !== undefined) filter.vmid = options.vm;
    if (options.user) filter.user = options.user;
    if (options.since) filter.since = parseSince(options.since, (deps.now ?? (() => new Date()))());
    const events = await deps.events.read(filter, { limit: options.limit });
    const described = Object.entries(options)
      .filter(([k, v]) => v !== undefined && k !== "limit")
      .map(([k, v]) => `${k} ${String(v)}`)
      .join(", ");
    const csv = events.length > 0 ? { name: "audit.csv", data: Buffer.from(formatCsv(events)) } : undefined;
    await chat.reply({
      ephemeral: true,
      cards: [auditCard(events, { filter: described, ...(csv ? { csv } : {}) })],
    });
    return undefined;
  },
  async autocomplete(focused, _raw, deps) {
    const view = await deps.cluster.view();
    return focused.name === "vm" ? vmChoices(view, focused.value) : nodeChoices(view, focused.value);
  },
});
