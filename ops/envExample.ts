/**
 * Renders .env.example from ENV_VARS (config/load.ts), the single list of variable names, and from the
 * schema's own defaults, so the example cannot drift from what the tool reads. Regenerate with
 * `npx tsx ops/envExample.ts > .env.example`; a test fails when the committed file is stale.
 */
import { pathToFileURL } from "node:url";
import { ENV_VARS } from "../config/load.ts";
import { AppConfig } from "../config/schema.ts";

export const REGENERATE = "npx tsx ops/envExample.ts > .env.example";

/** The least a config needs; whatever it sets is required (within its optional section). */
const MINIMAL = {
  pve: { host: "pve.example", tokenId: "u@pve!t", tokenSecret: "s", fingerprint: "0".repeat(64) },
  discord: {
    token: "t",
    applicationId: "1".repeat(17),
    guildId: "1".repeat(17),
    channelId: "1".repeat(17),
  },
};

/** Required-ness the minimal config cannot show: one of two variables will do. */
const REQUIRED_NOTE: Record<string, string> = {
  PVE_FINGERPRINT: "required unless PVE_CA_FILE is set",
  PVE_CA_FILE: "or PVE_FINGERPRINT",
};

type Group = "pve" | "redis" | "discord" | "migration" | "qos" | "process";

const GROUPS: Record<Group, string[]> = {
  pve: [
    "Proxmox VE API. `pve-evacuate lab` prints ready-made values for a local lab cluster.",
    "The certificate is verified with PVE_FINGERPRINT (`pvenode cert info`) or PVE_CA_FILE",
    "(/etc/pve/pve-root-ca.pem). The token's privileges: `pve-evacuate doctor` lists what is missing.",
  ],
  redis: [
    "Redis: migration queue and audit log. It must run with maxmemory-policy noeviction and should",
    "keep an append-only file (appendonly yes); `pve-evacuate doctor` checks both.",
  ],
  discord: [
    "Discord bot. Optional: without it the terminal commands still work. The ids are snowflakes",
    "(Discord → Settings → Advanced → Developer Mode, then right-click → Copy ID).",
  ],
  migration: ["Migration policy."],
  qos: ["QoS probing while a VM migrates."],
  process: ["Process."],
};

function groupOf(path: readonly string[]): Group {
  const head = path[0] ?? "";
  if (head === "pve" || head === "discord" || head === "migration" || head === "qos") return head;
  if (head.startsWith("redis")) return "redis";
  return "process";
}

function at(tree: unknown, path: readonly string[]): unknown {
  let node = tree;
  for (const key of path) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function envText(value: unknown): string {
  if (Array.isArray(value)) return value.join(",");
  return String(value);
}

export function renderEnvExample(): string {
  const defaults = AppConfig.parse(MINIMAL);
  const lines = [
    "# pve-evacuate configuration: every variable the tool reads, with its default.",
    `# Generated from ENV_VARS (config/load.ts) by \`${REGENERATE}\`; do not edit by hand.`,
    "# Copy to .env and fill in the uncommented lines; commented lines show the default.",
    "# Secrets may come from a file instead: <NAME>_FILE=/run/secrets/... (docker secrets).",
    "# A JSON file with the same structure may be named by PVE_EVACUATE_CONFIG; variables win over it.",
  ];
  let current: Group | undefined;
  for (const v of ENV_VARS) {
    const group = groupOf(v.path);
    if (group !== current) {
      current = group;
      lines.push("", ...GROUPS[group].map((l) => `## ${l}`));
    }
    const required = at(MINIMAL, v.path) !== undefined;
    const fallback = required ? undefined : at(defaults, v.path);
    const notes = [
      REQUIRED_NOTE[v.name] ?? (required ? "required" : undefined),
      v.secret ? `secret: or ${v.name}_FILE` : undefined,
    ]
      .filter(Boolean)
      .join("; ");
    lines.push(`# ${v.help}${notes ? ` [${notes}]` : ""}`);
    lines.push(required ? `${v.name}=` : `#${v.name}=${fallback === undefined ? "" : envText(fallback)}`);
  }
  lines.push(
    "",
    "## docker compose only (read by docker-compose.yml, not by pve-evacuate).",
    "# What `docker compose up` starts besides Redis: cluster (worker + bot on the PVE above) or demo",
    "# (a lab cluster + worker + bot, no PVE needed); `docker compose --profile demo up` overrides it.",
    "COMPOSE_PROFILES=cluster",
    "# API token secret of the demo lab (a throwaway lowercase UUID; the lab opens nothing else)",
    "#LAB_TOKEN_SECRET=6f1c2b9e-3d4a-4e5f-8a7b-0c1d2e3f4a5b",
  );
  return `${lines.join("\n")}\n`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(renderEnvExample());
}
