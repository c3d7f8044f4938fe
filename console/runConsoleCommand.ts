/**
 * Runs a chat command in the terminal: the same handler as on Discord, cards printed as text, a button
 * choice read from stdin (or Confirm taken at once with autoConfirm), then, when something was queued,
 * progress lines, one result card per VM and the summary, as the channel would get them.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline/promises";
import { followEvacuation } from "../cli/evacuate.ts";
import { resultCard, summaryCard } from "../commands/cards.ts";
import type { Card, CardButton, ChatUser, CommandOutcome } from "../commands/chatPort.ts";
import type { CommandDeps, RawOptions } from "../commands/command.ts";
import { parseCustomId } from "../commands/customIds.ts";
import { commandNamed, commands, componentHandlerFor } from "../commands/registry.ts";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import type { MigrationResult } from "../worker/migrateVm.ts";
import { cardText } from "./cardText.ts";
import { createConsoleChat } from "./consoleChat.ts";

export interface ConsoleSettings {
  deps: CommandDeps;
  /** Take the Confirm button without asking. */
  autoConfirm?: boolean;
  write?: (text: string) => void;
  /** Asks which button; default: a numbered prompt on stdin. */
  choose?: (buttons: readonly CardButton[]) => Promise<CardButton | undefined>;
  user?: ChatUser;
  /** Follow queued evacuations to their summary (default true). */
  follow?: boolean;
  pollMs?: number;
  /** Result charts by Redis key, to save next to the printed cards. */
  readChart?: (key: string) => Promise<Uint8Array | undefined>;
  /** Directory the charts are written to; they are only listed without it. */
  chartDir?: string;
}

export interface ConsoleRun {
  outcome: CommandOutcome | undefined;
  results: MigrationResult[];
}

async function askStdin(buttons: readonly CardButton[]): Promise<CardButton | undefined> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (
      await rl.question(`Choose ${buttons.map((b, i) => `[${i + 1}] ${b.label}`).join(" ")}: `)
    ).trim();
    return buttons.find((b, i) => answer === String(i + 1) || answer.toLowerCase() === b.label.toLowerCase());
  } finally {
    rl.close();
  }
}

export async function runConsoleCommand(
  commandName: string,
  options: RawOptions,
  settings: ConsoleSettings,
): Promise<ConsoleRun> {
  const write = settings.write ?? ((t: string) => process.stdout.write(t));
  const command = commandNamed(commandName);
  if (!command)
    throw new UserError(
      ErrorCodes.InvalidInput,
      `Unknown command '${commandName}'. Commands: ${Object.keys(commands).join(", ")}.`,
    );
  const user = settings.user ?? {
    id: process.env.USER ?? "console",
    name: process.env.USER ?? "console",
    roles: [],
  };
  const chat = createConsoleChat({ user, write });
  let outcome = await command.run(chat, options, settings.deps);

  const buttons = chat.buttons.filter((b) => !b.disabled);
  if (buttons.length > 0) {
    const choice = settings.autoConfirm
      ? buttons.find((b) => parseCustomId(b.id)?.action === "confirm")
      : await (settings.choose ?? askStdin)(buttons);
    const parsed = choice ? parseCustomId(choice.id) : undefined;
    const handler = parsed ? componentHandlerFor(parsed.prefix) : undefined;
    if (!parsed || !handler) write("No choice made: nothing was queued; the plan expires by itself.\n");
    else outcome = await handler.handle({ chat, action: parsed.action, id: parsed.id, deps: settings.deps });
  }

  const results: MigrationResult[] = [];
  if (settings.follow === false) return { outcome, results };
  for (const evacuationId of outcome?.evacuationIds ?? []) {
    // Writes stay in order: a result's chart is read before the next line is printed.
    let chain: Promise<void> = Promise.resolve();
    const done = await followEvacuation(
      settings.deps.queue,
      evacuationId,
      {
        progress: (line) => {
          chain = chain.then(() => write(`${line}\n`));
        },
        result: (r) => {
          chain = chain.then(() => printResult(r, settings, write));
        },
      },
      settings.pollMs,
    );
    await chain;
    results.push(...done);
    const record = await settings.deps.queue.store.get(evacuationId);
    if (record) write(cardText(summaryCard(record, done)));
  }
  return { outcome, results };
}

async function printResult(r: MigrationResult, settings: ConsoleSettings, write: (t: string) => void) {
  let chart: Uint8Array | undefined;
  const key = r.qos?.measured ? r.qos.chartKey : undefined;
  if (key && settings.readChart) chart = await settings.readChart(key);
  const card: Card = resultCard(r, chart ? { chart } : {});
  if (chart && settings.chartDir) {
    const path = join(settings.chartDir, `chart-${r.vmid}.png`);
    await writeFile(path, chart);
    card.lines = [...(card.lines ?? []), `Chart saved to ${path}`];
  }
  write(cardText(card));
}
