/**
 * `pve-evacuate snapshot [--out FILE]`: record the configured cluster's raw API answers as a snapshot
 * (JSON on stdout by default). Replay it with `--cluster FILE` on other commands, or load it into the lab.
 */
import { writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { z } from "zod";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import { recordSnapshot } from "../proxmox/snapshot.ts";
import { type ConnectOptions, withPveClient } from "./connect.ts";
import { errorOutputOf, outputOf, type Register } from "./program.ts";

export interface SnapshotCommandDeps {
  env?: NodeJS.ProcessEnv;
  now?: () => Date;
}

const Options = z.object({ out: z.string().min(1).optional() });

export function registerSnapshot(deps: SnapshotCommandDeps = {}): Register {
  return (program) => {
    program
      .command("snapshot")
      .description(
        "Record the cluster's state (raw API answers) as a JSON snapshot: plan offline with --cluster FILE, or load it into the lab.",
      )
      .option("--out <file>", "write the snapshot to FILE instead of stdout")
      .action(async (rawOptions: unknown, command: Command) => {
        const options = Options.parse(rawOptions);
        const io = { stdout: outputOf(command), stderr: errorOutputOf(command) };
        const connect: ConnectOptions = deps.env ? { env: deps.env } : {};
        const snapshot = await withPveClient(connect, (client) =>
          recordSnapshot(client, {
            ...(deps.now ? { now: deps.now } : {}),
            onSkip: (path, reason) => io.stderr(`warning: left out ${path}: ${reason}\n`),
          }),
        );
        const text = `${JSON.stringify(snapshot, null, 2)}\n`;
        if (options.out === undefined) {
          io.stdout(text);
          return;
        }
        try {
          await writeFile(options.out, text);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code ?? "write failed";
          throw new UserError(
            ErrorCodes.InvalidInput,
            `Cannot write the snapshot to ${options.out} (${code}).`,
          );
        }
        const paths = Object.keys(snapshot).length - 1;
        io.stderr(`wrote ${paths} API answers from ${snapshot._meta.source} to ${options.out}\n`);
      });
  };
}

export const register: Register = registerSnapshot();
