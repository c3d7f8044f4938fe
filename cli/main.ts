import { register as audit } from "./audit.ts";
import { register as parseTaskLog } from "./parseTaskLog.ts";
import { type Register, runCli } from "./program.ts";

/** Explicit registry: one line per subcommand file. */
const registry: Register[] = [audit, parseTaskLog];

process.exitCode = await runCli(process.argv.slice(2), registry);
