/**
 * `/return node:<node>`: after maintenance, move back what the last evacuation of the node moved,
 * planned again against the cluster as it is now (capacity re-checked). Confirm like an evacuation.
 */
import { SlashCommandBuilder } from "discord.js";
import { z } from "zod";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import { gatherClusterData } from "../planning/clusterData.ts";
import { buildClusterView } from "../planning/clusterView.ts";
import { nodeChoices } from "./choices.ts";
import { actorOf, defineCommand } from "./command.ts";
import { offerPlan } from "./offerPlan.ts";
import { nodeName } from "./options.ts";
import { planReturn } from "./returnPlan.ts";

const Options = z.object({ node: nodeName });
type Options = z.infer<typeof Options>;

export const returnCommand = defineCommand<Options>({
  name: "return",
  definition: new SlashCommandBuilder()
    .setName("return")
    .setDescription("Move back to a node what its last evacuation moved away (capacity checked again)")
    .addStringOption((o) =>
      o
        .setName("node")
        .setDescription("the node back from maintenance")
        .setRequired(true)
        .setAutocomplete(true),
    ),
  access: () => "change",
  options: Options,
  async handle(ctx) {
    const { chat, options, deps } = ctx;
    await chat.defer();
    const last = await deps.queue.store.latestOf(options.node, "evacuate");
    if (!last)
      throw new UserError(
        ErrorCodes.NothingToEvacuate,
        `No evacuation of ${options.node} is on record: nothing to return.`,
      );
    if (last.status === "running")
      throw new UserError(
        ErrorCodes.EvacuationInProgress,
        `The evacuation ${last.id} of ${options.node} is still running.`,
        "Wait for it to finish (or cancel it with /evacuation cancel), then return.",
      );
    const moved = (await deps.queue.store.results(last.id))
      .filter((r) => r.status === "succeeded")
      .map((r) => ({ vmid: r.vmid, name: r.name, movedTo: r.target }));
    if (moved.length === 0)
      throw new UserError(
        ErrorCodes.NothingToEvacuate,
        `The last evacuation of ${options.node} (${last.id}, ${last.status}) moved nothing: nothing to return.`,
      );
    const actor = actorOf(chat);
    await deps.events.append({
      type: "evacuation.requested",
      actor,
      node: options.node,
      mode: "return",
      source: options.node,
      options: { ...options, evacuationId: last.id },
    });
    const view = buildClusterView(await gatherClusterData(deps.pve, { vmids: moved.map((m) => m.vmid) }));
    const plan = planReturn(view, { node: options.node, moved }, deps.config.migration);
    await deps.events.append({ type: "plan.created", actor, node: options.node, plan: plan.view });
    return offerPlan(ctx, { view: plan.view, groups: plan.groups, dryRun: false });
  },
  async autocomplete(focused, _raw, deps) {
    return nodeChoices(await deps.cluster.view(), focused.value);
  },
});
