/**
 * Binds the QoS module to the migration runner: find the VM's address, probe it in a worker thread
 * through baseline, migration and tail, then turn the recording into metrics, grades and a chart.
 */
import type { QosPolicy } from "../config/schema.ts";
import { userMessage } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import type { PveClient } from "../proxmox/port.ts";
import { renderTimelinePng } from "../qos/chart.ts";
import { startProbe, toSamplesFile, windowsFromMarks } from "../qos/prober.ts";
import { qosReport } from "../qos/report.ts";
import { MIGRATION_END_MARK, MIGRATION_START_MARK } from "../qos/samples.ts";
import { AgentInterfaces, chooseProbeTarget } from "../qos/target.ts";
import type { MigrationJobData } from "./jobData.ts";
import type { MigrateVmDeps, QosOutcome, QosSession } from "./migrateVm.ts";

export interface QosPortOptions {
  pve: PveClient;
  policy: QosPolicy;
  logger: Logger;
  /** The lab's VMs answer on 127.0.0.1; a real VM never should. */
  allowLoopback?: boolean;
  /** Skip the PNG (benchmarks). */
  chart?: boolean;
}

/** A tag `<prefix>port-<n>` sets the TCP/UDP port probed for that VM (e.g. `probe-port-8080`). */
export function portFromTags(tags: string | undefined, prefix: string): number | undefined {
  const re = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}port-(\\d{1,5})$`);
  for (const tag of (tags ?? "").split(/[;,\s]+/)) {
    const m = re.exec(tag);
    const port = m ? Number(m[1]) : Number.NaN;
    if (port >= 1 && port <= 65535) return port;
  }
  return undefined;
}

export function createQosPort(options: QosPortOptions): MigrateVmDeps["qos"] {
  const { pve, policy } = options;
  const log = options.logger.child({ component: "qos" });
  return {
    async start(job: MigrationJobData): Promise<QosSession | { notMeasured: string }> {
      if (policy.method === "none") return { notMeasured: "QoS probing is off (QOS_METHOD=none)" };
      const ref = { node: job.source, type: job.type, vmid: job.vmid };
      let agent: AgentInterfaces | { unavailable: string };
      try {
        agent = AgentInterfaces.parse({ result: await pve.agentNetworkInterfaces(ref) });
      } catch (e) {
        agent = { unavailable: userMessage(e) };
      }
      const resources = await pve.clusterResources("vm");
      const tags = resources.find((r) => r.vmid === job.vmid)?.tags;
      const target = chooseProbeTarget({
        agent,
        ...(tags !== undefined ? { tags } : {}),
        tagPrefix: policy.addressTagPrefix,
        ...(options.allowLoopback ? { allowLoopback: true } : {}),
      });
      if (target.kind === "not-measured") return { notMeasured: target.reason };
      const port = portFromTags(tags, policy.addressTagPrefix) ?? policy.tcpPort;
      let probe: Awaited<ReturnType<typeof startProbe>>;
      try {
        probe = await startProbe({
          method: policy.method,
          host: target.address,
          port,
          intervalMs: policy.intervalMs,
        });
      } catch (e) {
        return { notMeasured: `probe could not start: ${userMessage(e)}` };
      }
      const address = policy.method === "icmp" ? target.address : `${target.address}:${port}`;
      log.info({ vmid: job.vmid, address, method: policy.method }, "probe started");
      return {
        markMigrationStart: () => {
          probe.mark(MIGRATION_START_MARK);
        },
        markMigrationEnd: () => {
          probe.mark(MIGRATION_END_MARK);
        },
        async finish(migration): Promise<QosOutcome> {
          const recording = await probe.stop();
          const report = qosReport(toSamplesFile(recording, migration), {
            labels: policy.labels,
            referenceBandwidthBps: policy.referenceBandwidthBps,
          });
          let chartPng: Uint8Array | undefined;
          if (options.chart !== false) {
            try {
              chartPng = await renderTimelinePng(recording, windowsFromMarks(recording), {
                language: policy.labels,
                title: `VM ${job.vmid} (${job.name}) ${job.source} → ${job.target}`,
              });
            } catch (e) {
              log.warn({ err: e, vmid: job.vmid }, "timeline chart failed");
            }
          }
          const focus = report.windows.migration ?? report.windows.all;
          return {
            measured: true,
            method: policy.method,
            address,
            observedDowntimeMs: report.observedDowntimeMs,
            summary: {
              lossPct: focus?.lossPct ?? 0,
              ...(focus?.rtt ? { delayMs: focus.rtt.avgMs } : {}),
              ...(focus?.jitter ? { jitterMs: focus.jitter.meanAbsDeltaMs } : {}),
              grades: Object.fromEntries(
                Object.entries(report.grades).map(([metric, g]) => [metric, g.label]),
              ),
            },
            report: JSON.parse(JSON.stringify(report)) as Record<string, unknown>,
            ...(chartPng ? { chartPng } : {}),
          };
        },
      };
    },
  };
}
