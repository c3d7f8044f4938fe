/**
 * `/migrate vm:<vm> target:<node>`: one guest, the same pipeline as an evacuation (plan with the same
 * checks, confirm, queue, measure). The plan is made over a view holding only this guest on its node,
 * so its neighbours do not take the target's room.
 */
import { SlashCommandBuilder } from "discord.js";
import { z } from "zod";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import { gatherClusterData } from "../planning/clusterData.ts";
import { buildClusterView, type ClusterView, type GuestView } from "../planning/clusterView.ts";
import { planEvacuation } from "../planning/plan.ts";
import { nodeChoices, vmChoices } from "./choices.ts";
import { actorOf, defineCommand } from "./command.ts";
import { offerPlan, pendingMove } from "./offerPlan.ts";
import { nodeName } from "./options.ts";
import { planViewOf } from "./planView.ts";

const Options = z.object({
  vm: z.string().trim().min(1, "give a VM id or name").max(100),
  target: nodeName,
});
type Options = z.infer<typeof Options>;

/** A VM by id (`101`, or an autocomplete label starting with it) or by exact name. */
export function findGuest(view: ClusterView, text: string): GuestView {
  const id = /^(\d+)\b/.exec(text.trim());
  const guest = id
    ? view.guests.find((g) => g.vmid === Number(id[1]))
    : view.guests.filter((g) => g.name === text.trim()).at(0);
  if (guest) return guest;
  if (!id && view.guests.filter((g) => g.name === text.trim()).length > 1)
    throw new UserError(ErrorCodes.UnknownVm, `Several guests are called '${text}'; give the VM id.`);
  throw new UserError(
    ErrorCodes.UnknownVm,
    id ? `VM ${id[1]} is not in the cluster.` : `No guest is called '${text.trim()}'.`,
    "Pick one from the suggestions or check /nodes.",
  );
}

export const migrate = defineCommand<Options>({
  name: "migrate",
  definition: new SlashCommandBuilder()
    .setName("migrate")
    .setDescription("Plan moving one guest to another node, then confirm to live-migrate it (measured)")
    .addStringOption((o) =>
      o.setName("vm").setDescription("the VM (id or name)").setRequired(true).setAutocomplete(true),
    )
    .addStringOption((o) =>
      o.setName("target").setDescription("the node it goes to").setRequired(true).setAutocomplete(true),
    ),
  access: () => "change",
  options: Options,
  async handle(ctx) {
    const { chat, options, deps } = ctx;
    await chat.defer();
    const actor = actorOf(chat);
    const located = findGuest(buildClusterView(await gatherClusterData(deps.pve, { vmids: [] })), options.vm);
    if (located.node === options.target)
      throw new UserError(ErrorCodes.InvalidInput, `VM ${located.vmid} already runs on ${options.target}.`);
    await deps.events.append({
      type: "evacuation.requested",
      actor,
      node: located.node,
      vmid: located.vmid,
      mode: "migrate",
      source: located.node,
      options: { ...options },
    });
    const full = buildClusterView(await gatherClusterData(deps.pve, { vmids: [located.vmid] }));
    const alone: ClusterView = {
      ...full,
      guests: full.guests.filter((g) => g.node !== located.node || g.vmid === located.vmid),
    };
    const plan = planEvacuation(
      alone,
      { source: located.node, target: options.target, includeStopped: true, includeContainers: true },
      deps.config.migration,
    );
    await deps.events.append({ type: "plan.created", actor, node: located.node, vmid: located.vmid, plan });
    return offerPlan(ctx, {
      view: planViewOf(plan, "migrate"),
      groups: [{ source: located.node, moves: plan.moves.map(pendingMove) }],
      dryRun: false,
    });
  },
  async autocomplete(focused, raw, deps) {
    const view = await deps.cluster.view();
    if (focused.name === "vm") return vmChoices(view, focused.value);
    let current: string | undefined;
    try {
      current = view && raw.vm !== undefined ? findGuest(view, String(raw.vm)).node : undefined;
    } catch {
      current = undefined;
    }
    return nodeChoices(view, focused.value, current);
  },
});
