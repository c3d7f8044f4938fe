/**
 * Confirm / Cancel under a plan card. The plan comes from Redis by the id in the button, so a click
 * works on any bot process and after restarts; only the user who asked may decide, once, before the
 * plan expires.
 */
import { userMessage } from "../lib/errors.ts";
import { PLAN_PREFIX, planCard, settledPlanCard } from "./cards.ts";
import type { ChatPort } from "./chatPort.ts";
import { actorOf, type CommandDeps, type ComponentHandler } from "./command.ts";

function minutes(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`;
}

async function refuseGone(chat: ChatPort, deps: CommandDeps, id: string) {
  const outcome = await deps.plans.outcome(id);
  const text = outcome
    ? `This plan was already ${outcome.action} by ${outcome.by.name ?? outcome.by.id}${
        outcome.evacuationIds.length > 0 ? ` (evacuation ${outcome.evacuationIds.join(", ")})` : ""
      }.`
    : `This plan has expired: a plan can be confirmed for ${minutes(deps.plans.ttlMs)} after it is shown, so that nothing runs on stale facts. Run the command again for a fresh plan.`;
  await chat.reply({ text, ephemeral: true });
}

export const planButtons: ComponentHandler = {
  prefix: PLAN_PREFIX,
  access: "change",
  async handle({ chat, action, id, deps }) {
    const plan = await deps.plans.get(id);
    if (!plan) {
      await refuseGone(chat, deps, id);
      return undefined;
    }
    const actor = actorOf(chat);
    if (plan.requestedBy.id !== chat.user.id) {
      const who = plan.requestedBy.name ?? plan.requestedBy.id;
      await deps.events.append({
        type: "command.denied",
        actor,
        node: plan.node,
        command: `${action} plan ${id}`,
        reason: `only ${who}, who asked for the plan, may ${action} it`,
      });
      await chat.reply({
        text: `Only ${who}, who asked for this plan, can confirm or cancel it.`,
        ephemeral: true,
      });
      return undefined;
    }
    if (action !== "confirm" && action !== "cancel") {
      await chat.reply({ text: `Unknown plan action '${action}'.`, ephemeral: true });
      return undefined;
    }
    const taken = await deps.plans.take(id, {
      action: action === "confirm" ? "confirmed" : "cancelled",
      by: actor,
    });
    if (!taken) {
      await refuseGone(chat, deps, id);
      return undefined;
    }
    const card = planCard(taken.view);
    if (action === "cancel") {
      await deps.events.append({
        type: "evacuation.cancelled",
        actor,
        node: taken.node,
        abortRunning: false,
        reason: `plan ${id} cancelled before anything was queued`,
      });
      await chat.update({
        cards: [settledPlanCard(card, `Cancelled by ${chat.user.name}: nothing was queued.`, "warning")],
      });
      return undefined;
    }

    const ids: string[] = [];
    const failures: string[] = [];
    for (const group of taken.groups) {
      try {
        const record = await deps.queue.enqueue({
          source: group.source,
          kind: taken.kind,
          moves: group.moves,
          requestedBy: taken.requestedBy,
        });
        ids.push(record.id);
        await deps.events.append({
          type: "evacuation.confirmed",
          actor,
          node: group.source,
          evacuationId: record.id,
        });
      } catch (e) {
        deps.logger.warn({ err: e, plan: id, source: group.source }, "enqueue refused");
        failures.push(`${group.source}: ${userMessage(e)}`);
      }
    }
    await deps.plans.noteEvacuations(id, ids);
    const moves = taken.groups.reduce((n, g) => n + g.moves.length, 0);
    const outcome =
      ids.length > 0
        ? `Confirmed by ${chat.user.name}: queued as ${ids.join(", ")}.${failures.length > 0 ? ` Not queued: ${failures.join("; ")}` : ""}`
        : `Confirmed by ${chat.user.name}, but nothing was queued: ${failures.join("; ")}`;
    await chat.update({ cards: [settledPlanCard(card, outcome, ids.length > 0 ? "success" : "danger")] });
    // Only a hint: managed Redis may refuse CLIENT LIST, and the evacuation is queued either way.
    const workers = ids.length > 0 ? await deps.queue.queue.getWorkers().catch(() => undefined) : undefined;
    const noWorker = workers !== undefined && workers.length === 0;
    await chat.reply({
      ephemeral: true,
      text:
        ids.length > 0
          ? `Queued ${moves} migration(s) (${ids.join(", ")}). Progress and results follow here.${
              noWorker ? " Warning: no worker is connected; the jobs wait until one runs." : ""
            }`
          : `Nothing was queued: ${failures.join("; ")}`,
    });
    return ids.length > 0 ? { evacuationIds: ids } : undefined;
  },
};
