/**
 * The `pve-evacuate` command line. Each subcommand lives in its own file under cli/ and exports
 * `register(program)`; the list below is the explicit registry (no glob loading).
 */
import { Command } from "commander";
import { ZodError } from "zod";
import { ConfigError, PveApiError, UserError } from "../lib/errors.ts";

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export type Register = (program: Command) => void;

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export const processIo: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

/** Where a subcommand writes: runCli installs the io on the root command, tests pass a fake one. */
export function outputOf(command: Command): (text: string) => void {
  let root = command;
  while (root.parent) root = root.parent;
  return root.configureOutput().writeOut ?? ((t: string) => process.stdout.write(t));
}

export function errorOutputOf(command: Command): (text: string) => void {
  let root = command;
  while (root.parent) root = root.parent;
  return root.configureOutput().writeErr ?? ((t: string) => process.stderr.write(t));
}

export function buildProgram(registry: readonly Register[]): Command {
  const program = new Command("pve-evacuate")
    .description("Evacuate Proxmox VE nodes one live migration at a time, measured and audited.")
    .showHelpAfterError()
    .exitOverride();
  for (const register of registry) register(program);
  return program;
}

/** Runs the CLI and returns the exit code; known failures print their message, bugs a short notice. */
export async function runCli(argv: readonly string[], registry: readonly Register[], io: CliIo = processIo) {
  const program = buildProgram(registry);
  program.configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  try {
    await program.parseAsync(argv as string[], { from: "user" });
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (typeof code === "string" && code.startsWith("commander.")) {
      const exitCode = (e as { exitCode?: number }).exitCode ?? 2;
      return code === "commander.helpDisplayed" || code === "commander.version" ? 0 : exitCode === 0 ? 0 : 2;
    }
    if (e instanceof ZodError) {
      // Option values are parsed with zod in the commands; say which one is wrong, not a stack.
      const problems = e.issues.map(
        (i) => `${i.path.length > 0 ? `--${kebab(i.path.join("."))}` : "input"}: ${i.message}`,
      );
      io.stderr(`error: invalid option value: ${problems.join("; ")}\n`);
      return 2;
    }
    if (e instanceof ConfigError || e instanceof UserError || e instanceof PveApiError) {
      io.stderr(`error: ${e.message}\n`);
      return 1;
    }
    io.stderr(`error: unexpected failure: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 70;
  }
}
