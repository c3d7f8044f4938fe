import { describe, expect, it } from "vitest";
import { staleLabNamespaces, staleRunDirs, subnetBase, subnetConflict } from "./network.ts";
import { qemuArgs } from "./process.ts";
import { defaultGameLoad, guestLoads, workloadArgs } from "./workloads.ts";

describe("QEMU lab network helpers", () => {
  const routes = [
    "default via 192.0.2.1 dev eth0",
    "192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2",
    "local 192.0.2.2 dev eth0 table local proto kernel scope host src 192.0.2.2",
    "broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1",
    "local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1",
  ];

  it("finds a route overlapping the lab's /24, ignoring default routes", () => {
    expect(subnetConflict(routes, "10.213.77.0/24")).toBeUndefined();
    expect(subnetConflict(routes, "192.0.2.0/24")).toBe(routes[1]);
    expect(subnetConflict([...routes, "10.0.0.0/8 via 192.0.2.9 dev eth0"], "10.213.77.0/24")).toBe(
      "10.0.0.0/8 via 192.0.2.9 dev eth0",
    );
    expect(subnetConflict(["local 10.213.77.1 dev pve1h0 table local"], "10.213.77.0/24")).toBe(
      "local 10.213.77.1 dev pve1h0 table local",
    );
    expect(subnetConflict(["0.0.0.0/0 via 192.0.2.1 dev eth0"], "10.213.77.0/24")).toBeUndefined();
  });

  it("accepts only /24 networks", () => {
    expect(subnetBase("10.213.77.0/24")).toBe("10.213.77");
    expect(() => subnetBase("10.213.77.0/16")).toThrow(/must be a \/24/);
    expect(() => subnetBase("10.213.300.0/24")).toThrow(/not an IPv4 address/);
  });

  it("recognises namespaces left by a process that is gone, and only those", () => {
    const alive = new Set([100]);
    expect(
      staleLabNamespaces(["pvee-100-0", "pvee-200-3", "pvee-selftest-5", "other", "pvee-200"], (p) =>
        alive.has(p),
      ),
    ).toEqual(["pvee-200-3"]);
    expect(
      staleRunDirs(
        ["pvee-qemu-100-aB3xYz", "pvee-qemu-200-Qw12Er", "pvee-qemu-200-x", "pvee-qemu-Qw12Er"],
        (p) => alive.has(p),
      ),
    ).toEqual(["pvee-qemu-200-Qw12Er"]);
  });
});

describe("QEMU command line and guest workloads", () => {
  const manifest = {
    qemu: "/c/qemu/usr/bin/qemu-system-x86_64",
    dataDirs: ["/c/qemu/usr/share/qemu", "/c/qemu/usr/share/seabios"],
    kernel: "/c/vmlinuz",
    initrd: "/c/initrd.gz",
    qemuVersion: "10.0.2",
  };
  const spec = {
    name: "101-1",
    memoryMiB: 128,
    mac: "bc:24:11:aa:bb:cc",
    tap: "t101g1",
    address: "10.213.77.10/24",
    tcpPort: 7,
    workload: "game" as const,
    loads: guestLoads(128),
  };

  it("differs between source and destination only in tap, sockets and -incoming", () => {
    const src = qemuArgs(manifest, spec, "/run/x");
    const dst = qemuArgs(manifest, { ...spec, name: "101-2", tap: "t101g2", incomingPort: 49152 }, "/run/x");
    const differing = src.map((a, i) => [a, dst[i]]).filter(([a, b]) => a !== b);
    expect(differing).toEqual([
      ["pvee-101-1", "pvee-101-2"],
      ["tap,id=n0,ifname=t101g1,script=no,downscript=no", "tap,id=n0,ifname=t101g2,script=no,downscript=no"],
      ["file:/run/x/101-1.console.log", "file:/run/x/101-2.console.log"],
      ["unix:/run/x/101-1.qmp,server=on,wait=off", "unix:/run/x/101-2.qmp,server=on,wait=off"],
    ]);
    expect(dst.slice(src.length)).toEqual(["-S", "-incoming", "tcp:127.0.0.1:49152"]);
    expect(src).toContain("virtio-net-pci,netdev=n0,mac=bc:24:11:aa:bb:cc,romfile=");
    expect(src[src.indexOf("-append") + 1]).toBe(
      "console=ttyS0 quiet panic=-1 lab.ip=10.213.77.10/24 lab.port=7 lab.workload=game lab.game=48:0",
    );
  });

  it("sizes the game's working set to what the guest can hold", () => {
    expect(defaultGameLoad(128)).toEqual({ workingSetMiB: 48, fps: 0 });
    expect(defaultGameLoad(256)).toEqual({ workingSetMiB: 128, fps: 0 });
    expect(defaultGameLoad(64).workingSetMiB).toBe(8);
    expect(workloadArgs("idle", guestLoads(256))).toEqual(["lab.workload=idle"]);
    expect(workloadArgs("video", guestLoads(256))).toEqual(["lab.workload=video", "lab.video=4096:16:25"]);
  });
});
