import { register as audit } from "./audit.ts";
import { register as bot } from "./bot.ts";
import { register as demo } from "./demo.ts";
import { register as doctor } from "./doctor.ts";
import { register as evacuate } from "./evacuate.ts";
import { register as evacuation } from "./evacuation.ts";
import { register as lab } from "./lab.ts";
import { register as parseTaskLog } from "./parseTaskLog.ts";
import { register as plan } from "./plan.ts";
import { type Register, runCli } from "./program.ts";
import { register as qos } from "./qos.ts";
import { register as snapshot } from "./snapshot.ts";
import { register as worker } from "./worker.ts";

/** Explicit registry: one line per subcommand file. */
const registry: Register[] = [
  audit,
  bot,
  demo,
  doctor,
  evacuate,
  evacuation,
  lab,
  parseTaskLog,
  plan,
  qos,
  snapshot,
  worker,
];

process.exitCode = await runCli(process.argv.slice(2), registry);
