/**
 * One QEMU process of the lab: the command line (pure, identical on both sides of a migration except the
 * tap, the sockets and `-incoming`), the spawn inside the lab's namespace and its QMP connection.
 *
 * QEMU runs as a child of this process with PR_SET_PDEATHSIG (setpriv --pdeathsig KILL), so a lab killed
 * with SIGKILL takes its guests with it instead of leaving them running.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import type { WorkloadName } from "../cluster.ts";
import type { QemuManifest } from "./availability.ts";
import { connectQmp, type QmpClient } from "./qmp.ts";
import { type GuestLoads, workloadArgs } from "./workloads.ts";

export interface QemuGuestSpec {
  /** Unique per process: names its sockets and logs. */
  name: string;
  memoryMiB: number;
  /** `52:54:00:…`: the same on both sides, as PVE keeps the config's MAC. */
  mac: string;
  tap: string;
  /** `a.b.c.d/24` */
  address: string;
  /** The guest's TCP listener for the TCP prober. */
  tcpPort: number;
  workload: WorkloadName;
  loads: GuestLoads;
  /** Destination side: paused (`-S`) and waiting on this port of the namespace's loopback. */
  incomingPort?: number;
  /** Default `tcg`. */
  accel?: string;
}

export function qemuArgs(manifest: QemuManifest, spec: QemuGuestSpec, runDir: string): string[] {
  const append = [
    "console=ttyS0",
    "quiet",
    "panic=-1",
    `lab.ip=${spec.address}`,
    `lab.port=${spec.tcpPort}`,
    ...workloadArgs(spec.workload, spec.loads),
  ].join(" ");
  return [
    ...manifest.dataDirs.flatMap((d) => ["-L", d]),
    ["-name", `pvee-${spec.name}`],
    [
      "-machine",
      "pc",
      "-accel",
      spec.accel ?? "tcg",
      "-cpu",
      "qemu64",
      "-smp",
      "1",
      "-m",
      String(spec.memoryMiB),
    ],
    ["-nodefaults", "-no-user-config", "-display", "none"],
    ["-kernel", manifest.kernel, "-initrd", manifest.initrd, "-append", append],
    ["-netdev", `tap,id=n0,ifname=${spec.tap},script=no,downscript=no`],
    // romfile= : no iPXE option ROM needed (direct kernel boot), and none to look for on the host
    ["-device", `virtio-net-pci,netdev=n0,mac=${spec.mac},romfile=`],
    ["-serial", `file:${runDir}/${spec.name}.console.log`],
    ["-qmp", `unix:${runDir}/${spec.name}.qmp,server=on,wait=off`],
    ...(spec.incomingPort !== undefined ? [["-S", "-incoming", `tcp:127.0.0.1:${spec.incomingPort}`]] : []),
  ].flat();
}

export interface QemuProcess {
  name: string;
  spec: QemuGuestSpec;
  pid: number;
  qmp: QmpClient;
  /** Resolves with the exit code (null after a signal) when QEMU ends. */
  exited: Promise<number | null>;
  hasExited(): boolean;
  /** Last lines QEMU printed (for error messages). */
  output(): string;
  /** `quit` over QMP, SIGKILL if it has not ended within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartQemuOptions {
  manifest: QemuManifest;
  namespace: string;
  runDir: string;
  spec: QemuGuestSpec;
  /** Default 10 s until QMP answers. */
  timeoutMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startQemu(o: StartQemuOptions): Promise<QemuProcess> {
  const { spec, runDir } = o;
  const qmpPath = `${runDir}/${spec.name}.qmp`;
  rmSync(qmpPath, { force: true });
  const child: ChildProcess = spawn(
    "setpriv",
    [
      "--pdeathsig",
      "KILL",
      "ip",
      "netns",
      "exec",
      o.namespace,
      o.manifest.qemu,
      ...qemuArgs(o.manifest, spec, runDir),
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let tail = "";
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString("utf8")).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => {
      exitCode = code;
      resolve(code);
    });
    child.once("error", (e) => {
      tail += `\n${e.message}`;
      exitCode = null;
      resolve(null);
    });
  });
  const deadline = Date.now() + (o.timeoutMs ?? 10_000);
  let qmp: QmpClient | undefined;
  while (!qmp) {
    if (exitCode !== undefined) {
      throw new Error(
        `QEMU ${spec.name} exited (${exitCode}) before QMP was ready: ${tail.trim() || "no output"}`,
      );
    }
    try {
      qmp = await connectQmp(qmpPath, { timeoutMs: 5000 });
    } catch (e) {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(
          `QEMU ${spec.name}: QMP not ready within ${o.timeoutMs ?? 10_000} ms (${(e as Error).message}) ${tail.trim()}`,
        );
      }
      await sleep(50);
    }
  }
  const ready = qmp;
  return {
    name: spec.name,
    spec,
    pid: child.pid ?? -1,
    qmp: ready,
    exited,
    hasExited: () => exitCode !== undefined,
    output: () => tail.trim(),
    async stop(graceMs = 3000) {
      if (exitCode !== undefined) return;
      try {
        await ready.execute("quit");
      } catch {
        // the connection drops as QEMU quits
      }
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
      ready.close();
    },
  };
}
