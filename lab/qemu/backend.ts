/**
 * `lab --qemu`: some of the lab's VMs are real QEMU guests, and a PVE migrate call on one of them performs
 * a real live migration between two QEMU processes, driven over QMP the way qemu-server drives it:
 *
 *   lock → target QEMU started paused (`-S -incoming`) on a fresh tap → capabilities and parameters as PVE
 *   sets them → `migrate` → PVE's monitor loop on real `query-migrate` figures (progress lines, downtime
 *   doubling) → on the poll that sees `completed`: config moves, target resumed (`cont`), source quit →
 *   `migration finished successfully` → TASK OK.
 *
 * Because the target only runs once the loop has seen `completed`, clients see QEMU's downtime plus the
 * detection and resume latency, as on a real cluster. Guests keep their address (the bridge relearns the
 * MAC on the new tap), and the guest agent endpoint reports it, so the worker probes the real guest.
 * Requests the model answers before any RAM moves (local devices, offline target, injected faults, local
 * disks) stay with the model; so do stopped VMs.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderBytes } from "../../lib/bytes.ts";
import type { LabCluster } from "../cluster.ts";
import type { QemuMigrationRequest } from "../migration.ts";
import type { Responder, SilenceWindow } from "../responder.ts";
import type { LabMigrationTruth, LabRuntime } from "../runtime.ts";
import { formatTaskDuration, formatTaskTimestamp, xbzrleCacheBytes } from "../taskLogWriter.ts";
import type { LabTask } from "../tasks.ts";
import { localDisks, localResources } from "../views.ts";
import { checkQemuAvailability, type QemuManifest } from "./availability.ts";
import { createQemuNetwork, processAlive, type QemuNetwork, staleRunDirs } from "./network.ts";
import { type QemuGuestSpec, type QemuProcess, startQemu } from "./process.ts";
import { initialLoopState, pollStep, QueryMigrate } from "./pveMigrationLoop.ts";
import { type GuestLoads, guestLoads } from "./workloads.ts";

export interface QemuLabOptions {
  /** Where lab/qemu/setup.sh put QEMU, kernel and initramfs (default $PVE_EVACUATE_QEMU_DIR or /var/cache/…). */
  dir?: string;
  /** Which running VMs become QEMU guests. Default: every running qemu VM without local devices. */
  vmids?: number[];
  /** Guest RAM; the lab VM's configured memory is set to match. Default 256. */
  memoryMiB?: number;
  /** A /24 unused on this host. Default 10.213.77.0/24. */
  subnet?: string;
  /** The guests' TCP listener (tag `probe-port-N`). Default 7. */
  tcpPort?: number;
  /** Workload settings; default: video 4 MiB/s over a 16 MiB ring, game flat out over half the memory. */
  loads?: Partial<GuestLoads>;
  /** Migration capabilities; default PVE's: auto-converge and xbzrle. */
  capabilities?: string[];
  /** PVE's default migrate_downtime is 100 ms. */
  downtimeLimitMs?: number;
  /** A migration still running after this long is cancelled (PVE waits for ever). Default 180 s. */
  maxMigrationMs?: number;
  /** Default tcg. */
  accel?: string;
  /** Until every guest answers on its TCP port. Default 60 s. */
  bootTimeoutMs?: number;
  /** Rate of the migration link (the namespace's loopback is shaped to it). Default 1 GbE, 117.5 MiB/s. */
  migrationBandwidthBytesPerSecond?: number;
}

/** What lab/migration.ts asks of a real-QEMU backend. */
export interface QemuMigrationBackend {
  /** True when this request is a live migration of a QEMU guest this backend runs. */
  takes(req: QemuMigrationRequest, failure: string | undefined): boolean;
  run(ctx: QemuMigrationContext): void;
  close(): Promise<void>;
}

export interface QemuMigrationContext {
  rt: LabRuntime;
  task: LabTask;
  truth: LabMigrationTruth;
  req: QemuMigrationRequest;
  onEnd: (ok: boolean) => void;
}

export interface QemuGuestInfo {
  vmid: number;
  address: string;
  tcpPort: number;
  workload: string;
  memoryMiB: number;
  pid: number;
}

interface RealGuest {
  vmid: number;
  address: string;
  spec: Omit<QemuGuestSpec, "name" | "tap" | "incomingPort">;
  process: QemuProcess;
  tap: string;
  generation: number;
  migrating: boolean;
}

export interface QemuBackend extends QemuMigrationBackend {
  network: QemuNetwork;
  manifest: QemuManifest;
  owns(vmid: number): boolean;
  guests(): QemuGuestInfo[];
  /** Stand-ins for the lab's 127.0.0.1 responders: the guest's own address and port. */
  responders(): Map<number, Responder>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = 1024 * 1024;
const PVE_CAPABILITIES = ["auto-converge", "xbzrle"];

function waitForTcp(host: string, port: number, deadline: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = connect({ host, port });
      const retry = () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`guest ${host}:${port} did not answer in time`));
        else setTimeout(attempt, 100);
      };
      s.setTimeout(500, retry);
      s.once("connect", () => {
        s.destroy();
        resolve();
      });
      s.once("error", retry);
    };
    attempt();
  });
}

class Aborted extends Error {}

export async function startQemuBackend(
  cluster: LabCluster,
  options: QemuLabOptions = {},
): Promise<QemuBackend> {
  const availability = checkQemuAvailability(options.dir);
  if (!availability.available) throw new Error(`QEMU lab not available: ${availability.reason}`);
  const manifest = availability.manifest;
  const chosen = cluster
    .allGuests()
    .filter((g) => (options.vmids ? options.vmids.includes(g.vmid) : true))
    .filter(
      (g) => g.type === "qemu" && g.status === "running" && !g.template && localResources(g).length === 0,
    );
  if (options.vmids) {
    const missing = options.vmids.filter((id) => !chosen.some((g) => g.vmid === id));
    if (missing.length)
      throw new Error(`QEMU lab: VMs ${missing.join(", ")} are not running qemu VMs without local devices`);
  }
  if (chosen.length > 240) throw new Error("QEMU lab: at most 240 guests");
  const tcpPort = options.tcpPort ?? 7;
  const memoryMiB = options.memoryMiB ?? 256;
  const downtimeLimitMs = options.downtimeLimitMs ?? 100;
  const capabilities = options.capabilities ?? PVE_CAPABILITIES;
  const maxMigrationMs = options.maxMigrationMs ?? 180_000;
  const loads = guestLoads(memoryMiB, options.loads);
  // The migration link is shaped once, for the whole lab: PVE's bwlimit then lowers QEMU's max-bandwidth.
  let network: QemuNetwork | undefined;
  for (const stale of staleRunDirs(readdirSync(tmpdir()), processAlive)) {
    rmSync(join(tmpdir(), stale), { recursive: true, force: true });
  }
  const runDir = mkdtempSync(join(tmpdir(), `pvee-qemu-${process.pid}-`));
  const guests = new Map<number, RealGuest>();
  let incomingPort = 49_152;
  let closed = false;

  const startProcess = async (
    g: Pick<RealGuest, "vmid" | "spec" | "generation">,
    incoming?: number,
  ): Promise<{ process: QemuProcess; tap: string }> => {
    if (!network) throw new Error("QEMU lab network is gone");
    const generation = ++g.generation;
    const tap = `t${g.vmid}g${generation}`.slice(0, 15);
    await network.addTap(tap);
    try {
      const process = await startQemu({
        manifest,
        namespace: network.namespace,
        runDir,
        spec: {
          ...g.spec,
          name: `${g.vmid}-${generation}`,
          tap,
          ...(incoming !== undefined ? { incomingPort: incoming } : {}),
        },
      });
      return { process, tap };
    } catch (e) {
      await network.removeTap(tap);
      throw e;
    }
  };

  const close = async () => {
    if (closed) return;
    closed = true;
    await Promise.all([...guests.values()].map((g) => g.process.stop(1000).catch(() => {})));
    await network?.destroy();
    rmSync(runDir, { recursive: true, force: true });
  };

  try {
    network = await createQemuNetwork({
      ...(options.subnet ? { subnet: options.subnet } : {}),
      migrationBandwidthBytesPerSecond: options.migrationBandwidthBytesPerSecond ?? 117.5 * MiB,
    });
    const net = network;
    await Promise.all(
      chosen.map(async (lg, i) => {
        const address = net.address(10 + i);
        const first = {
          vmid: lg.vmid,
          spec: {
            memoryMiB,
            mac: lg.mac.toLowerCase(),
            address: `${address}/24`,
            tcpPort,
            workload: lg.workload,
            loads,
            ...(options.accel ? { accel: options.accel } : {}),
          },
          generation: 0,
        };
        const started = await startProcess(first);
        guests.set(lg.vmid, { ...first, address, ...started, migrating: false });
        lg.memoryBytes = memoryMiB * MiB;
        lg.agent = true;
        lg.tags = [...lg.tags.filter((t) => !t.startsWith("probe-port-")), `probe-port-${tcpPort}`];
      }),
    );
    const deadline = Date.now() + (options.bootTimeoutMs ?? 60_000);
    await Promise.all([...guests.values()].map((g) => waitForTcp(g.address, tcpPort, deadline)));
  } catch (e) {
    await close();
    throw e;
  }
  const net = network;

  async function migrate(ctx: QemuMigrationContext): Promise<void> {
    const { rt, task, truth, req } = ctx;
    const lg = req.guest;
    const g = guests.get(lg.vmid) as RealGuest;
    const t0 = Date.now();
    truth.taskStartEpochMs = t0;
    const pveVersion = rt.cluster.version.version.startsWith("8.") ? 8 : 9;
    const targetIp = rt.cluster.node(req.target)?.ip ?? req.target;
    const abort = new AbortController();
    let phase: "setup" | "ram" | "cleanup" = "setup";
    let done = false;
    const log = (text: string, level: "info" | "err" = "info") => {
      const stamp = formatTaskTimestamp(new Date());
      rt.tasks.log(task, `${stamp}${level === "err" ? " ERROR:" : ""} ${text}`);
    };
    const duration = () => formatTaskDuration(Math.floor(Date.now() / 1000) - Math.floor(t0 / 1000));
    const finish = (exitstatus: string) => {
      if (done) return;
      done = true;
      g.migrating = false;
      delete lg.migrationTarget;
      if (lg.lock === "migrate") delete lg.lock;
      rt.tasks.finish(task, exitstatus);
      truth.status = exitstatus === "OK" ? "ok" : "failed";
      truth.totalTimeMs = truth.totalTimeMs ?? Date.now() - t0;
      truth.taskEndEpochMs = Date.now();
      ctx.onEnd(exitstatus === "OK");
    };
    const pause = async (ms: number) => {
      if (abort.signal.aborted) throw new Aborted();
      await new Promise<void>((resolve) => {
        const onAbort = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          abort.signal.removeEventListener("abort", onAbort);
          resolve();
        }, ms);
        abort.signal.addEventListener("abort", onAbort, { once: true });
      });
      if (abort.signal.aborted) throw new Aborted();
    };
    task.onStop = () => {
      if (phase === "cleanup") log("received interrupt - delayed", "err");
      else abort.abort();
    };

    g.migrating = true;
    if (req.byHa) rt.tasks.log(task, "task started by HA resource agent");
    if (pveVersion === 9) {
      log("conntrack state migration not supported or disabled, active connections might get dropped");
    }
    lg.lock = "migrate";
    lg.migrationTarget = req.target;
    log(`starting migration of VM ${lg.vmid} to node '${req.target}' (${targetIp})`);
    let target: { process: QemuProcess; tap: string } | undefined;
    const source = g.process;
    try {
      log(`starting VM ${lg.vmid} on remote node '${req.target}'`);
      const port = incomingPort++;
      if (incomingPort > 65_000) incomingPort = 49_152;
      target = await startProcess(g, port);
      if (abort.signal.aborted) throw new Aborted();
      log("start remote tunnel");
      log("ssh tunnel ver 1");
      const uri = `unix:/run/qemu-server/${lg.vmid}.migrate`;
      log(`starting online/live migration on ${uri}`);
      log("set migration capabilities");
      await source.qmp.execute("migrate-set-capabilities", {
        capabilities: capabilities.map((capability) => ({ capability, state: true })),
      });
      const bandwidth = req.bwlimitKiB ? req.bwlimitKiB * 1024 : 16 * 1024 * MiB;
      if (req.bwlimitKiB) log(`migration speed limit: ${renderBytes(bandwidth)}/s`);
      log(`migration downtime limit: ${downtimeLimitMs} ms`);
      const cache = xbzrleCacheBytes(lg.memoryBytes);
      log(`migration cachesize: ${renderBytes(cache)}`);
      log("set migration parameters");
      await source.qmp.execute("migrate-set-parameters", {
        "downtime-limit": downtimeLimitMs,
        "max-bandwidth": bandwidth,
        ...(capabilities.includes("xbzrle") ? { "xbzrle-cache-size": cache } : {}),
      });
      log(`start migrate command to ${uri}`);
      const migrateStart = Date.now();
      await source.qmp.execute("migrate", { uri: `tcp:127.0.0.1:${port}` });
      phase = "ram";
      let state = initialLoopState(downtimeLimitMs, migrateStart);
      let final: QueryMigrate | undefined;
      while (!final) {
        await pause(state.sleepMs);
        const stat = QueryMigrate.parse(await source.qmp.execute("query-migrate"));
        const step = pollStep(state, stat, Date.now(), pveVersion);
        state = step.state;
        for (const l of step.lines) log(l.text, l.level);
        if (step.setDowntimeLimitMs !== undefined) {
          await source.qmp.execute("migrate-set-parameters", { "downtime-limit": step.setDowntimeLimitMs });
        }
        if (step.verdict.kind === "failed") throw new Error(step.verdict.error);
        if (step.verdict.kind === "completed") final = stat;
        else if (Date.now() - migrateStart > maxMigrationMs) {
          throw new Error(
            `migration did not converge within ${Math.round(maxMigrationMs / 1000)} s (lab limit)`,
          );
        }
      }
      phase = "cleanup";
      // phase3_cleanup: the config moves to the target, then the target guest is resumed
      lg.node = req.target;
      delete lg.migrationTarget;
      await target.process.qmp.execute("cont");
      const resumedAt = Date.now();
      const totalTime = final["total-time"];
      const downtime = final.downtime;
      if (downtime !== undefined) truth.pveDowntimeMs = downtime;
      if (final.ram) truth.transferredBytes = final.ram.transferred;
      if (totalTime !== undefined) truth.totalTimeMs = totalTime;
      if (totalTime !== undefined && downtime !== undefined) {
        // QEMU stops the source `downtime` ms before completion; the guest runs again at resume
        truth.outageStartEpochMs = migrateStart + totalTime - downtime;
        truth.outageEndEpochMs = resumedAt;
        truth.clientOutageMs = resumedAt - truth.outageStartEpochMs;
      }
      g.process = target.process;
      const oldTap = g.tap;
      g.tap = target.tap;
      target = undefined;
      await source.stop(2000);
      await net.removeTap(oldTap);
      log(`migration finished successfully (duration ${duration()})`);
      finish("OK");
    } catch (e) {
      const interrupted = e instanceof Aborted;
      const reason = interrupted ? "interrupted by signal" : (e as Error).message.split("\n")[0];
      if (phase === "ram") {
        log(`online migrate failure - ${reason}`, "err");
        log("aborting phase 2 - cleanup resources");
        log("migrate_cancel");
        await source.qmp.execute("migrate_cancel").catch(() => {});
        // a cancelled migration leaves the source running; make sure a stopped one runs again
        const status = (await source.qmp.execute("query-status").catch(() => undefined)) as
          | { running?: boolean }
          | undefined;
        if (status && status.running === false) await source.qmp.execute("cont").catch(() => {});
      } else if (phase === "setup") {
        if (interrupted) log("interrupted by signal", "err");
        log("aborting phase 1 - cleanup resources");
      }
      if (target) {
        await target.process.stop(500).catch(() => {});
        await net.removeTap(target.tap);
      }
      if (phase === "ram") {
        log(`migration finished with problems (duration ${duration()})`, "err");
        finish("migration problems");
      } else if (phase === "setup") {
        log(`migration aborted (duration ${duration()}): ${reason}`, "err");
        finish("migration aborted");
      } else {
        // after the switchover the VM runs on the target; only the source clean-up failed
        log(`migration finished with problems (duration ${duration()})`, "err");
        finish("migration problems");
      }
    }
  }

  return {
    network: net,
    manifest,
    owns: (vmid) => guests.has(vmid),
    guests: () =>
      [...guests.values()].map((g) => ({
        vmid: g.vmid,
        address: g.address,
        tcpPort,
        workload: g.spec.workload,
        memoryMiB,
        pid: g.process.pid,
      })),
    responders() {
      const map = new Map<number, Responder>();
      for (const g of guests.values()) {
        map.set(g.vmid, {
          host: g.address,
          tcpPort,
          udpPort: 0,
          // The model path (e.g. with local disks) pauses the real guest for the modelled outage.
          async silence(ms: number): Promise<SilenceWindow> {
            const startEpochMs = Date.now();
            await g.process.qmp.execute("stop").catch(() => {});
            await sleep(ms);
            await g.process.qmp.execute("cont").catch(() => {});
            return { startEpochMs, endEpochMs: Date.now() };
          },
          setDelay: () => {},
          close: async () => {},
        });
      }
      return map;
    },
    takes(req, failure) {
      const g = guests.get(req.guest.vmid);
      if (!g || g.migrating || closed) return false;
      const target = cluster.node(req.target);
      return (
        req.online &&
        req.guest.status === "running" &&
        failure === undefined &&
        target?.online === true &&
        localResources(req.guest).length === 0 &&
        localDisks(cluster, req.guest).length === 0
      );
    },
    run(ctx) {
      void migrate(ctx).catch((e: unknown) => {
        endTaskOnCrash(ctx, e);
      });
    },
    close,
  };
}

/** Last resort: an unexpected error outside migrate()'s own handling still ends the task. */
function endTaskOnCrash(ctx: QemuMigrationContext, e: unknown): void {
  const { rt, task } = ctx;
  if (!rt.tasks.running(task)) return;
  rt.tasks.log(task, `${formatTaskTimestamp(new Date())} ERROR: ${(e as Error).message}`);
  rt.tasks.finish(task, "migration problems");
  ctx.truth.status = "failed";
  ctx.onEnd(false);
}
