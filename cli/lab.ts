/**
 * `pve-evacuate lab`: runs the lab — a throwaway Proxmox VE cluster on this machine that speaks the
 * real API over HTTPS — and prints how to point pve-evacuate (or any PVE client) at it. Serves until
 * SIGINT/SIGTERM, then shuts down cleanly.
 */

import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import { z } from "zod";
import { type FaultPlan, FaultPlan as FaultPlanSchema, parseFaultFlag } from "../lab/faults.ts";
import { labConnectionEnv } from "../lab/labClient.ts";
import { parseQemuGuests, qemuGuestLines, qemuLabCluster, qemuLabOptions } from "../lab/qemu/labCli.ts";
import { type LabOptions, type RunningLab, startLab } from "../lab/server.ts";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import { loadSnapshotFile } from "../proxmox/snapshot.ts";
import type { Register } from "./program.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const intText = (name: string, min: number) =>
  z
    .string()
    .regex(/^\d+$/, `${name} must be a whole number`)
    .transform(Number)
    .refine((n) => n >= min, `${name} must be at least ${min}`);

const Options = z.object({
  port: intText("--port", 0).refine((n) => n <= 65_535, "--port must be at most 65535"),
  host: z.string().min(1),
  nodes: intText("--nodes", 1),
  vms: intText("--vms", 0),
  seed: intText("--seed", 0),
  timeScale: z
    .string()
    .regex(/^\d+(\.\d+)?$/, "--time-scale must be a number")
    .transform(Number)
    .refine((n) => n >= 1, "--time-scale must be at least 1"),
  from: z.string().min(1).optional(),
  tokenId: z.string().regex(/^[^@\s]+@[^!\s]+![A-Za-z0-9._-]+$/, "--token-id must look like user@realm!name"),
  tokenSecret: z.string().regex(UUID, "--token-secret must be a lowercase UUID").optional(),
  fault: z.array(z.string()).default([]),
  faultsFile: z.string().min(1).optional(),
  responders: z.boolean().default(true),
  authDelay: intText("--auth-delay", 0),
  fingerprintFile: z.string().min(1).optional(),
  caFile: z.string().min(1).optional(),
  json: z.boolean().optional(),
  qemu: z.boolean().optional(),
  qemuGuests: z.string().default("idle,video,game"),
  qemuMemory: intText("--qemu-memory", 64).optional(),
  qemuDir: z.string().min(1).optional(),
  qemuSubnet: z.string().min(1).optional(),
});

const HELP_AFTER = `
Faults (repeat --fault, or give a JSON file with --faults-file: an array of
{ "kind": ..., ... } objects, or { "faults": [...] }):
  api-error:<path>[:<status>][:times=N|rate=R]  answer matching API calls with an error
                                                (500 by default; path glob, * = one segment,
                                                ** = the rest), e.g. api-error:/cluster/resources:503:times=2
  api-delay:<path>[:<ms>]                       hold matching calls ms (no ms: never answer)
  migration-fails:<vmid>[:aborted|problems]     migrations of that VM fail (every time; add :times=1 for once)
  node-offline:<node>                           the node's API answers 595, it shows offline
  vm-locked:<vmid>[:<lock>]                     the guest carries a lock (default backup)
  deny:<privilege>[:<acl path>]                 the token lacks a privilege (403), e.g. deny:Sys.Audit:/nodes/node2
At runtime: POST /lab/faults with one such JSON object, GET /lab/faults, DELETE /lab/faults[/<id>].

The token secret printed is a throwaway generated for this lab process; it opens nothing else.
Also served (no auth): GET /lab/vms (each running VM's TCP/UDP responder on 127.0.0.1),
GET /lab/migrations (what really happened in each migration: downtime, client outage, bytes).`;

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function faultPlanFrom(flags: string[], file: string | undefined): FaultPlan {
  const plan: FaultPlan = [];
  for (const flag of flags) {
    try {
      plan.push(parseFaultFlag(flag));
    } catch (e) {
      throw new UserError(ErrorCodes.InvalidInput, (e as Error).message, "See pve-evacuate lab --help.");
    }
  }
  if (file !== undefined) {
    let value: unknown;
    try {
      value = JSON.parse(readFileSync(file, "utf8"));
    } catch (e) {
      throw new UserError(ErrorCodes.InvalidInput, `--faults-file ${file}: ${(e as Error).message}`);
    }
    const parsed = FaultPlanSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new UserError(
        ErrorCodes.InvalidInput,
        `--faults-file ${file}: ${issue?.path.map(String).join(".") || "(root)"}: ${issue?.message ?? "invalid"}`,
        "See pve-evacuate lab --help for the fault kinds.",
      );
    }
    plan.push(...parsed.data);
  }
  return plan;
}

/** Written whole or not at all: a reader never sees half a fingerprint or certificate. */
function writeWhole(flag: string, path: string, text: string): void {
  try {
    writeFileSync(`${path}.tmp`, text);
    renameSync(`${path}.tmp`, path);
  } catch (e) {
    throw new UserError(ErrorCodes.InvalidInput, `${flag} ${path}: ${(e as Error).message}`);
  }
}

export function labDescription(lab: RunningLab) {
  const guests = lab.cluster.allGuests();
  return {
    url: lab.url,
    host: lab.host,
    port: lab.port,
    tokenId: lab.tokenId,
    tokenSecret: lab.tokenSecret,
    fingerprint: lab.fingerprint,
    caPem: lab.caPem,
    env: labConnectionEnv(lab),
    nodes: lab.cluster.nodes.map((n) => ({
      node: n.name,
      guests: guests.filter((g) => g.node === n.name).map((g) => g.vmid),
    })),
    guests: guests.map((g) => ({
      vmid: g.vmid,
      type: g.type,
      name: g.name,
      node: g.node,
      status: g.status,
      workload: g.workload,
      ...(g.template ? { template: true } : {}),
      ...(lab.cluster.haOf(g.vmid) ? { ha: true } : {}),
      ...(g.hostpci.length ? { hostpci: g.hostpci } : {}),
    })),
    ...(lab.qemu ? { qemuGuests: lab.qemu.guests() } : {}),
  };
}

export function formatLabText(lab: RunningLab, timeScale: number): string {
  const d = labDescription(lab);
  const lines = [
    `Proxmox VE lab "${lab.cluster.name}" at ${lab.url} — ${d.nodes.length} nodes, ${d.guests.length} guests${timeScale > 1 ? `, migrations ${timeScale}× faster (outages in real time)` : ""}`,
    "",
    ...d.nodes.map((n) => {
      const desc = d.guests
        .filter((g) => g.node === n.node)
        .map((g) => {
          const tags = [
            g.type === "lxc" ? "ct" : undefined,
            g.template ? "template" : g.status === "stopped" ? "stopped" : g.workload,
            g.ha ? "HA" : undefined,
            g.hostpci ? "hostpci" : undefined,
          ].filter(Boolean);
          return `${g.vmid} (${tags.join(", ")})`;
        });
      return `  ${n.node}: ${desc.join(", ") || "-"}`;
    }),
    "",
    `API token   ${lab.tokenId}`,
    `secret      ${lab.tokenSecret}   (throwaway, generated for this lab only)`,
    `fingerprint ${lab.fingerprint}`,
    "",
    "Paste into your shell or .env:",
    ...Object.entries(d.env).map(([k, v]) => `${k}=${v}`),
    "",
    `Responders: ${lab.url}/lab/vms   ground truth: ${lab.url}/lab/migrations   faults: ${lab.url}/lab/faults`,
    ...(lab.qemu ? ["", ...qemuGuestLines(lab.qemu.guests())] : []),
    "Serving until Ctrl-C.",
  ];
  return `${lines.join("\n")}\n`;
}

export interface LabCommandDeps {
  start?: (options: LabOptions) => Promise<RunningLab>;
  /** Resolves when the lab should stop; default: SIGINT or SIGTERM. */
  untilStopped?: () => Promise<void>;
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

export function registerLab(deps: LabCommandDeps = {}): Register {
  return (program: Command) => {
    program
      .command("lab")
      .description("Run a local Proxmox VE lab cluster (real API over HTTPS) to try pve-evacuate against")
      .option("--port <port>", "HTTPS port (0 = any free port)", "8006")
      .option("--host <address>", "address to listen on", "127.0.0.1")
      .option("--nodes <n>", "number of nodes, node1..nodeN", "3")
      .option("--vms <n>", "number of guests, VMIDs from 101", "12")
      .option("--seed <n>", "seed of the generated cluster (same seed, same cluster)", "1")
      .option("--from <file>", "build the cluster from a snapshot (pve-evacuate snapshot) instead")
      .option("--time-scale <n>", "run migrations' bulk phases n times faster (outages stay real-time)", "1")
      .option("--token-id <id>", "API token id", "evacuate@pve!lab")
      .option("--token-secret <uuid>", "API token secret (default: a random UUID)")
      .option("--fault <spec>", "inject a fault (repeatable, see below)", collect)
      .option("--faults-file <file>", "JSON file with faults")
      .option("--no-responders", "do not start the VMs' network responders")
      .option("--auth-delay <ms>", "delay before a 401, as PVE's 3 s", "3000")
      .option(
        "--fingerprint-file <path>",
        "write the certificate fingerprint to this file once serving (removed on exit), for clients in other containers",
      )
      .option(
        "--ca-file <path>",
        "write the lab's CA certificate (PEM, for PVE_CA_FILE) to this file once serving (removed on exit)",
      )
      .option("--json", "print the connection details as JSON")
      .option(
        "--qemu",
        "node1's VMs are real QEMU guests, migrated for real (root; run lab/qemu/setup.sh first)",
      )
      .option("--qemu-guests <list>", "with --qemu: one guest per workload on node1", "idle,video,game")
      .option("--qemu-memory <MiB>", "with --qemu: guest memory (default 256)")
      .option(
        "--qemu-dir <dir>",
        "with --qemu: where setup.sh put QEMU (default $PVE_EVACUATE_QEMU_DIR or /var/cache/pve-evacuate-qemu)",
      )
      .option("--qemu-subnet <cidr>", "with --qemu: an unused /24 for the guests (default 10.213.77.0/24)")
      .addHelpText("after", HELP_AFTER)
      .action(async (raw: Record<string, unknown>, command: Command) => {
        const parsed = Options.safeParse(raw);
        if (!parsed.success) {
          const issue = parsed.error.issues[0];
          throw new UserError(
            ErrorCodes.InvalidInput,
            issue?.message ?? "invalid option",
            "See pve-evacuate lab --help.",
          );
        }
        const o = parsed.data;
        const faults = faultPlanFrom(o.fault, o.faultsFile);
        if (o.qemu && o.from) {
          throw new UserError(ErrorCodes.InvalidInput, "--qemu builds its own cluster: drop --from.");
        }
        const options: LabOptions = {
          port: o.port,
          host: o.host,
          nodes: o.nodes,
          vms: o.vms,
          seed: o.seed,
          timeScale: o.timeScale,
          tokenId: o.tokenId,
          faults,
          responders: o.responders,
          authFailureDelayMs: o.authDelay,
          ...(o.tokenSecret ? { tokenSecret: o.tokenSecret } : {}),
          ...(o.from ? { fromSnapshot: loadSnapshotFile(o.from) } : {}),
          ...(o.qemu
            ? { cluster: qemuLabCluster(o.nodes, parseQemuGuests(o.qemuGuests)), qemu: qemuLabOptions(o) }
            : {}),
        };
        let lab: RunningLab;
        try {
          lab = await (deps.start ?? startLab)(options);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === "EADDRINUSE" || code === "EACCES") {
            throw new UserError(
              ErrorCodes.InvalidInput,
              `Cannot listen on ${o.host}:${o.port} (${code}).`,
              code === "EADDRINUSE" ? "Something else uses that port: pick another with --port." : undefined,
            );
          }
          if (e instanceof UserError) throw e;
          throw new UserError(ErrorCodes.InvalidInput, `The lab could not start: ${(e as Error).message}`);
        }
        let root = command;
        while (root.parent) root = root.parent;
        const write = root.configureOutput().writeOut ?? ((t: string) => process.stdout.write(t));
        try {
          if (o.fingerprintFile !== undefined) {
            writeWhole("--fingerprint-file", o.fingerprintFile, `${lab.fingerprint}\n`);
          }
          if (o.caFile !== undefined) writeWhole("--ca-file", o.caFile, lab.caPem);
        } catch (e) {
          await lab.close();
          throw e;
        }
        write(o.json ? `${JSON.stringify(labDescription(lab), null, 2)}\n` : formatLabText(lab, o.timeScale));
        await (deps.untilStopped ?? untilSignal)();
        await lab.close();
        for (const file of [o.fingerprintFile, o.caFile])
          if (file !== undefined) rmSync(file, { force: true });
      });
  };
}

export const register: Register = registerLab();
