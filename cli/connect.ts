/**
 * How CLI commands get a PveClient: the live cluster from the configuration (env / config file), or a
 * recorded snapshot with `--cluster FILE` (read-only). Commands call `pveClientFromEnv` once and
 * `close()` it when done, or use `withPveClient`.
 */
import type { Command } from "commander";
import { loadConfigFromProcess } from "../config/load.ts";
import { ConfigError } from "../lib/errors.ts";
import { createHttpPveClient, httpClientOptionsFromConfig } from "../proxmox/httpClient.ts";
import type { ApiParams } from "../proxmox/paths.ts";
import type { PveClient } from "../proxmox/port.ts";
import { createReplayClient, loadSnapshotFile, snapshotTransport } from "../proxmox/snapshot.ts";

export interface ConnectOptions {
  /** A snapshot file to replay instead of the live cluster. */
  cluster?: string;
  env?: NodeJS.ProcessEnv;
}

export interface ConnectedPveClient extends PveClient {
  /** Where answers come from: `host:port`, or the snapshot file and its origin. */
  readonly source: string;
  /** True for a snapshot: anything that changes the cluster throws a UserError. */
  readonly readOnly: boolean;
  /** PVE's raw `data` for a GET, before schema transforms. */
  rawGet(path: string, params?: ApiParams): Promise<unknown>;
  close(): Promise<void>;
}

/** Adds the shared `--cluster FILE` option to a command that can work from a snapshot. */
export function addClusterOption(command: Command): Command {
  return command.option(
    "--cluster <file>",
    "use a snapshot recorded with `pve-evacuate snapshot` instead of the live cluster (read-only)",
  );
}

export function pveClientFromEnv(options: ConnectOptions = {}): ConnectedPveClient {
  if (options.cluster !== undefined) {
    const snapshot = loadSnapshotFile(options.cluster);
    const transport = snapshotTransport(snapshot);
    return {
      ...createReplayClient(snapshot),
      source: `snapshot ${options.cluster} (recorded ${snapshot._meta.recordedAt} from ${snapshot._meta.source})`,
      readOnly: true,
      rawGet: async (path, params) => (await transport.request("GET", path, params)).data,
      close: async () => {},
    };
  }
  const { pve } = loadConfigFromProcess(options.env);
  if (!pve) {
    throw new ConfigError([
      {
        key: "PVE_HOST",
        reason:
          "not set: configure the cluster (PVE_HOST, PVE_TOKEN_ID, PVE_TOKEN_SECRET, PVE_FINGERPRINT or PVE_CA_FILE) or, for read-only commands such as plan, pass --cluster FILE",
      },
    ]);
  }
  const client = createHttpPveClient(httpClientOptionsFromConfig(pve));
  return { ...client, readOnly: false };
}

/** Runs `fn` with a client and always closes it (the connection pool would keep the process alive). */
export async function withPveClient<T>(
  options: ConnectOptions,
  fn: (client: ConnectedPveClient) => Promise<T>,
): Promise<T> {
  const client = pveClientFromEnv(options);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}
