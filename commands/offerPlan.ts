/**
 * The step /evacuate, /migrate and /return share: show the plan and, when something can move and it
 * is not a dry run, keep it in Redis behind Confirm/Cancel buttons.
 */
import { planCard } from "./cards.ts";
import type { CommandOutcome } from "./chatPort.ts";
import { actorOf, type CommandContext } from "./command.ts";
import type { PendingMove } from "./pendingPlans.ts";
import type { PlanView } from "./planView.ts";

export function pendingMove(m: PendingMove): PendingMove {
  return {
    vmid: m.vmid,
    name: m.name,
    type: m.type,
    target: m.target,
    memoryBytes: m.memoryBytes,
    mode: m.mode,
    withLocalDisks: m.withLocalDisks,
  };
}

export async function offerPlan(
  ctx: CommandContext<unknown>,
  p: { view: PlanView; groups: { source: string; moves: PendingMove[] }[]; dryRun: boolean },
): Promise<CommandOutcome | undefined> {
  const { chat, deps } = ctx;
  const requestedBy = chat.user.name;
  const groups = p.groups.filter((g) => g.moves.length > 0);
  if (p.dryRun || groups.length === 0) {
    await chat.reply({ cards: [planCard(p.view, { requestedBy, dryRun: p.dryRun })] });
    return undefined;
  }
  const pending = await deps.plans.save({
    kind: p.view.kind,
    node: p.view.node,
    groups,
    view: p.view,
    requestedBy: actorOf(chat),
    channelId: chat.channelId,
  });
  await chat.reply({
    cards: [planCard(p.view, { requestedBy, planId: pending.id, expiresAt: pending.expiresAt })],
  });
  return undefined;
}
