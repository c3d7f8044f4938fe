/**
 * Which address to probe for a VM. Pure.
 * Order: the guest agent's addresses (first non-loopback IPv4), else a tag `<prefix><address>`
 * (QosPolicy.addressTagPrefix, e.g. `probe-10.0.0.5`), else a configured address, else "not measured"
 * with the reason. Loopback counts only when explicitly allowed (the lab's VMs answer on 127.0.0.1).
 */
import { isIPv4 } from "node:net";
import { z } from "zod";

/** `GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces` → data (PVE wraps the agent's list in `result`). */
export const AgentInterfaces = z.object({
  result: z.array(
    z
      .object({
        name: z.string(),
        "ip-addresses": z
          .array(z.object({ "ip-address": z.string(), "ip-address-type": z.string() }).loose())
          .optional(),
      })
      .loose(),
  ),
});
export type AgentInterfaces = z.infer<typeof AgentInterfaces>;

export interface TargetInput {
  /** Parsed agent answer, or why there is none (agent disabled, not running, timed out...). */
  agent: AgentInterfaces | { unavailable: string };
  /** The guest's tags as PVE stores them: `a;b;c` (commas and spaces tolerated). */
  tags?: string;
  tagPrefix: string;
  /** An address set in configuration for this VM. */
  configuredAddress?: string;
  allowLoopback?: boolean;
}

export type ProbeTarget =
  | { kind: "address"; address: string; source: "guest-agent" | "tag" | "config" }
  | { kind: "not-measured"; reason: string };

const isLoopback = (ip: string) => ip.startsWith("127.");

export function chooseProbeTarget(input: TargetInput): ProbeTarget {
  const why: string[] = [];
  if ("unavailable" in input.agent) {
    why.push(`guest agent: ${input.agent.unavailable}`);
  } else {
    const v4 = input.agent.result.flatMap((iface) =>
      (iface["ip-addresses"] ?? [])
        .filter((a) => a["ip-address-type"] === "ipv4" && isIPv4(a["ip-address"]))
        .map((a) => a["ip-address"]),
    );
    const usable =
      v4.find((ip) => !isLoopback(ip)) ?? (input.allowLoopback ? v4.find(isLoopback) : undefined);
    if (usable) return { kind: "address", address: usable, source: "guest-agent" };
    why.push(
      v4.length > 0
        ? "guest agent reports only loopback IPv4 addresses"
        : "guest agent reports no IPv4 address",
    );
  }
  const tags = (input.tags ?? "").split(/[;,\s]+/).filter((t) => t.length > 0);
  const tagged = tags
    .filter((t) => t.startsWith(input.tagPrefix))
    .map((t) => t.slice(input.tagPrefix.length));
  const fromTag = tagged.find((a) => isIPv4(a));
  if (fromTag) return { kind: "address", address: fromTag, source: "tag" };
  why.push(
    tagged.length > 0
      ? `tag ${input.tagPrefix}${tagged[0]} is not an IPv4 address`
      : `no ${input.tagPrefix}<address> tag`,
  );
  if (input.configuredAddress !== undefined && input.configuredAddress.length > 0) {
    return { kind: "address", address: input.configuredAddress, source: "config" };
  }
  why.push("no address configured");
  return { kind: "not-measured", reason: `no address to probe: ${why.join("; ")}` };
}
