/**
 * `pve-evacuate doctor`: checks configuration, Redis, the Proxmox VE API (reachability, certificate,
 * token, privileges) and Discord, and says what to fix. Exit code 1 when a check failed.
 */
import type { Command } from "commander";
import { formatReport } from "../ops/doctor.ts";
import { type DoctorOptions, runDoctor } from "../ops/runDoctor.ts";
import { outputOf, type Register } from "./program.ts";

export function registerDoctor(options: DoctorOptions = {}): Register {
  return (program) => {
    program
      .command("doctor")
      .description("Check the installation: config, Redis, Proxmox VE API, token privileges, Discord")
      .option("--json", "print the checks as JSON")
      .action(async (opts: { json?: boolean }, command: Command) => {
        const out = outputOf(command);
        const result = await runDoctor(options);
        out(opts.json ? `${JSON.stringify(result, null, 2)}\n` : formatReport(result));
        if (!result.ok) process.exitCode = 1;
      });
  };
}

export const register: Register = registerDoctor();
