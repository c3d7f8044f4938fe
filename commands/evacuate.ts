/** `/evacuate node:<node> [dry_run] [include_stopped] [include_containers] [target]`: plan, then confirm. */
import { SlashCommandBuilder } from "discord.js";
import { z } from "zod";
import { planForNode } from "../planning/planForNode.ts";
import { nodeChoices } from "./choices.ts";
import { actorOf, defineCommand } from "./command.ts";
import { offerPlan, pendingMove } from "./offerPlan.ts";
import { flag, nodeName } from "./options.ts";
import { planViewOf } from "./planView.ts";

const Options = z.object({
  node: nodeName,
  dry_run: flag,
  include_stopped: flag,
  include_containers: flag,
  target: nodeName.optional(),
});
type Options = z.infer<typeof Options>;

export const evacuate = defineCommand<Options>({
  name: "evacuate",
  definition: new SlashCommandBuilder()
    .setName("evacuate")
    .setDescription("Plan moving every guest off a node, then confirm to live-migrate them one at a time")
    .addStringOption((o) =>
      o
        .setName("node")
        .setDescription("the node going into maintenance")
        .setRequired(true)
        .setAutocomplete(true),
    )
    .addBooleanOption((o) => o.setName("dry_run").setDescription("only show the plan, queue nothing"))
    .addBooleanOption((o) =>
      o.setName("include_stopped").setDescription("also move stopped VMs and templates (offline)"),
    )
    .addBooleanOption((o) =>
      o
        .setName("include_containers")
        .setDescription("also move containers (restart migration: they go down)"),
    )
    .addStringOption((o) =>
      o.setName("target").setDescription("send every guest to this node").setAutocomplete(true),
    ),
  access: (raw) => (raw.dry_run === true ? "read" : "change"),
  options: Options,
  async handle(ctx) {
    const { chat, options, deps } = ctx;
    await chat.defer();
    const actor = actorOf(chat);
    await deps.events.append({
      type: "evacuation.requested",
      actor,
      node: options.node,
      mode: "evacuate",
      source: options.node,
      options: { ...options },
    });
    const plan = await planForNode(
      deps.pve,
      {
        source: options.node,
        includeStopped: options.include_stopped,
        includeContainers: options.include_containers,
        ...(options.target ? { target: options.target } : {}),
      },
      deps.config.migration,
    );
    await deps.events.append({ type: "plan.created", actor, node: options.node, plan });
    return offerPlan(ctx, {
      view: planViewOf(plan, "evacuate"),
      groups: [{ source: options.node, moves: plan.moves.map(pendingMove) }],
      dryRun: options.dry_run,
    });
  },
  async autocomplete(focused, raw, deps) {
    const view = await deps.cluster.view();
    return nodeChoices(view, focused.value, focused.name === "target" ? String(raw.node ?? "") : undefined);
  },
});
