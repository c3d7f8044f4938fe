import { describe, expect, it } from "vitest";
import { AgentInterfaces, chooseProbeTarget } from "./target.ts";

const agent = (addrs: [string, string, string][]) =>
  AgentInterfaces.parse({
    result: addrs.map(([name, ip, type]) => ({
      name,
      "hardware-address": "00:00:00:00:00:00",
      "ip-addresses": [{ "ip-address": ip, "ip-address-type": type, prefix: 24 }],
    })),
  });

describe("chooseProbeTarget", () => {
  it("takes the guest agent's first non-loopback IPv4", () => {
    const t = chooseProbeTarget({
      agent: agent([
        ["lo", "127.0.0.1", "ipv4"],
        ["eth0", "fe80::1", "ipv6"],
        ["eth0", "10.0.0.7", "ipv4"],
        ["eth1", "10.0.1.7", "ipv4"],
      ]),
      tagPrefix: "probe-",
    });
    expect(t).toEqual({ kind: "address", address: "10.0.0.7", source: "guest-agent" });
  });

  it("loopback only when explicitly allowed (the lab)", () => {
    const a = agent([["lo", "127.0.0.1", "ipv4"]]);
    expect(chooseProbeTarget({ agent: a, tagPrefix: "probe-", allowLoopback: true })).toEqual({
      kind: "address",
      address: "127.0.0.1",
      source: "guest-agent",
    });
    const t = chooseProbeTarget({ agent: a, tagPrefix: "probe-" });
    expect(t.kind).toBe("not-measured");
    expect(t.kind === "not-measured" && t.reason).toContain("only loopback");
  });

  it("falls back to a probe-<address> tag, then to configuration", () => {
    const none = { unavailable: "QEMU guest agent is not running" };
    expect(chooseProbeTarget({ agent: none, tags: "web;probe-192.168.5.9", tagPrefix: "probe-" })).toEqual({
      kind: "address",
      address: "192.168.5.9",
      source: "tag",
    });
    expect(chooseProbeTarget({ agent: none, tagPrefix: "probe-", configuredAddress: "vm101.lan" })).toEqual({
      kind: "address",
      address: "vm101.lan",
      source: "config",
    });
  });

  it("otherwise says why nothing is measured", () => {
    const t = chooseProbeTarget({
      agent: { unavailable: "QEMU guest agent is not running" },
      tags: "probe-notanip",
      tagPrefix: "probe-",
    });
    expect(t).toEqual({
      kind: "not-measured",
      reason:
        "no address to probe: guest agent: QEMU guest agent is not running; tag probe-notanip is not an IPv4 address; no address configured",
    });
  });
});
