/**
 * The QEMU lab's network: a namespace of its own holding a bridge, one tap per QEMU process and the
 * migration traffic (TCP on the namespace's loopback, shaped like the cluster's migration link), joined to
 * the host by a veth pair whose host end carries the /24's first address. The prober runs in the host
 * namespace and reaches the guests through that veth and the bridge, as a client on the LAN would.
 *
 * Names follow one convention so that nothing else is ever touched: namespace `pvee-<pid>-<n>` (pid of the
 * process that made it, so one left by a killed process can be recognised and removed), host interface
 * `pve<pid>h<n>`. Only interfaces created here are changed; the subnet is checked unused first.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { ErrorCodes, UserError } from "../../lib/errors.ts";

const run = promisify(execFile);

export const DEFAULT_LAB_SUBNET = "10.213.77.0/24";

const ROUTE_TYPES = new Set([
  "unicast",
  "local",
  "broadcast",
  "multicast",
  "anycast",
  "blackhole",
  "unreachable",
  "prohibit",
  "throw",
  "nat",
]);

function ipToInt(ip: string): number {
  const parts = ip.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new RangeError(`not an IPv4 address: ${ip}`);
  }
  return (
    ((parts[0] as number) * 2 ** 24 +
      (parts[1] as number) * 2 ** 16 +
      (parts[2] as number) * 2 ** 8 +
      (parts[3] as number)) >>>
    0
  );
}

function range(prefix: string): [number, number] {
  const [ip, bitsText] = prefix.split("/");
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  const base = ipToInt(ip as string);
  const size = 2 ** (32 - bits);
  const start = Math.floor(base / size) * size;
  return [start, start + size - 1];
}

/** The lab's /24 as `a.b.c`; only /24 networks are accepted. */
export function subnetBase(subnet: string): string {
  const m = /^(\d{1,3}\.\d{1,3}\.\d{1,3})\.0\/24$/.exec(subnet);
  if (!m)
    throw new UserError(
      ErrorCodes.InvalidInput,
      `QEMU lab subnet ${subnet} must be a /24 like 10.213.77.0/24`,
    );
  ipToInt(`${m[1]}.0`);
  return m[1] as string;
}

/** The first route (from `ip -4 -o route show table all`) overlapping `subnet`, ignoring default routes. */
export function subnetConflict(routeLines: readonly string[], subnet: string): string | undefined {
  const [lo, hi] = range(subnet);
  for (const line of routeLines) {
    const words = line.trim().split(/\s+/);
    const dest = ROUTE_TYPES.has(words[0] ?? "") ? words[1] : words[0];
    if (!dest || dest === "default" || !/^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(dest)) continue;
    const [a, b] = range(dest);
    if (dest.endsWith("/0")) continue;
    if (a <= hi && b >= lo) return line.trim();
  }
  return undefined;
}

/** Namespaces named after a process that no longer runs: left behind by a killed lab. */
export function staleLabNamespaces(names: readonly string[], isAlive: (pid: number) => boolean): string[] {
  return names.filter((n) => {
    const m = /^pvee-(\d+)-\d+$/.exec(n);
    return m !== null && !isAlive(Number(m[1]));
  });
}

/** Run directories (`pvee-qemu-<pid>-XXXXXX` under the temp dir) of labs whose process is gone. */
export function staleRunDirs(names: readonly string[], isAlive: (pid: number) => boolean): string[] {
  return names.filter((n) => {
    const m = /^pvee-qemu-(\d+)-[A-Za-z0-9]{6}$/.exec(n);
    return m !== null && !isAlive(Number(m[1]));
  });
}

/** A zombie counts as gone: where PID 1 does not reap (containers), a killed lab stays one. */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

async function ip(...args: string[]): Promise<string> {
  try {
    return (await run("ip", args)).stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(" ")}: ${(err.stderr ?? err.message).trim()}`);
  }
}

async function namespaces(): Promise<string[]> {
  return (await ip("netns", "list"))
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0] ?? "")
    .filter((n) => n.length > 0);
}

/** Kills what still runs in a lab namespace and deletes it (its veth pair and taps go with it). */
export async function removeLabNamespace(name: string): Promise<void> {
  try {
    const pids = (await ip("netns", "pids", name)).split(/\s+/).filter(Boolean).map(Number);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  } catch {
    // the namespace is already gone
  }
  try {
    await ip("netns", "del", name);
  } catch {
    // already gone
  }
}

export interface QemuNetworkOptions {
  /** A /24 unused on this host. Default 10.213.77.0/24. */
  subnet?: string;
  /** Shapes the namespace's loopback (the migration link) to this rate; undefined = unshaped. */
  migrationBandwidthBytesPerSecond?: number;
}

export interface QemuNetwork {
  namespace: string;
  hostInterface: string;
  /** The host end's address: where the guests' replies go. */
  gateway: string;
  /** Guest address n (n ≥ 10 by convention). */
  address(n: number): string;
  addTap(name: string): Promise<void>;
  removeTap(name: string): Promise<void>;
  destroy(): Promise<void>;
}

let created = 0;

export async function createQemuNetwork(options: QemuNetworkOptions = {}): Promise<QemuNetwork> {
  const subnet = options.subnet ?? DEFAULT_LAB_SUBNET;
  const base = subnetBase(subnet);
  for (const stale of staleLabNamespaces(await namespaces(), processAlive)) await removeLabNamespace(stale);
  const routes = (await ip("-4", "-o", "route", "show", "table", "all")).split("\n").filter(Boolean);
  const conflict = subnetConflict(routes, subnet);
  if (conflict) {
    throw new UserError(
      ErrorCodes.InvalidInput,
      `The QEMU lab's subnet ${subnet} is already in use on this host (${conflict}).`,
      "Another QEMU lab may be running (stop it, or remove leftovers with lab/qemu/setup.sh down), or pick another subnet.",
    );
  }
  const n = created++;
  const namespace = `pvee-${process.pid}-${n}`;
  const hostInterface = `pve${process.pid % 10_000_000}h${n % 100}`;
  const peer = `pve${process.pid % 10_000_000}n${n % 100}`;
  const gateway = `${base}.1`;
  const net: QemuNetwork = {
    namespace,
    hostInterface,
    gateway,
    address: (i) => `${base}.${i}`,
    async addTap(name) {
      await ip("-n", namespace, "tuntap", "add", "dev", name, "mode", "tap");
      await ip("-n", namespace, "link", "set", name, "master", "br0");
      await ip("-n", namespace, "link", "set", name, "up");
    },
    async removeTap(name) {
      try {
        await ip("-n", namespace, "link", "del", name);
      } catch {
        // QEMU gone and tap already removed
      }
    },
    destroy: () => removeLabNamespace(namespace),
  };
  try {
    await ip("netns", "add", namespace);
    await ip("-n", namespace, "link", "set", "lo", "up");
    await ip("-n", namespace, "link", "add", "br0", "type", "bridge");
    await ip("link", "add", hostInterface, "type", "veth", "peer", "name", peer, "netns", namespace);
    await ip("-n", namespace, "link", "set", peer, "master", "br0");
    await ip("addr", "add", `${gateway}/24`, "dev", hostInterface);
    await ip("-n", namespace, "link", "set", "br0", "up");
    await ip("-n", namespace, "link", "set", peer, "up");
    await ip("link", "set", hostInterface, "up");
    if (options.migrationBandwidthBytesPerSecond) {
      const bits = Math.round(options.migrationBandwidthBytesPerSecond * 8);
      await run("ip", [
        "netns",
        "exec",
        namespace,
        "tc",
        "qdisc",
        "add",
        "dev",
        "lo",
        "root",
        "tbf",
        "rate",
        `${bits}bit`,
        "burst",
        "512kb",
        "latency",
        "100ms",
      ]);
    }
  } catch (e) {
    await net.destroy();
    throw e;
  }
  return net;
}
