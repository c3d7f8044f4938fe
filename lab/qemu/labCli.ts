/**
 * What `pve-evacuate lab --qemu` adds to the lab command: the cluster it builds (node1 holds one real
 * QEMU guest per listed workload, VMIDs from 101; the other nodes start empty) and how the guests are
 * described to the user.
 */
import { ErrorCodes, UserError } from "../../lib/errors.ts";
import type { LabCluster, WorkloadName } from "../cluster.ts";
import { LabClusterBuilder } from "../generate.ts";
import type { QemuGuestInfo, QemuLabOptions } from "./backend.ts";

const WORKLOAD_NAMES: readonly WorkloadName[] = ["idle", "video", "game"];

/** `idle,video,game` → the workloads, in order. */
export function parseQemuGuests(text: string): WorkloadName[] {
  const names = text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new UserError(ErrorCodes.InvalidInput, "--qemu-guests lists no workload");
  for (const n of names) {
    if (!WORKLOAD_NAMES.includes(n as WorkloadName)) {
      throw new UserError(
        ErrorCodes.InvalidInput,
        `--qemu-guests: unknown workload "${n}"`,
        `Use a comma-separated list of ${WORKLOAD_NAMES.join(", ")}.`,
      );
    }
  }
  if (names.length > 8) throw new UserError(ErrorCodes.InvalidInput, "--qemu-guests: at most 8 guests");
  return names as WorkloadName[];
}

export function qemuLabCluster(nodes: number, workloads: readonly WorkloadName[]): LabCluster {
  const builder = new LabClusterBuilder({ nodes: Math.max(2, nodes), seed: 1 });
  workloads.forEach((workload, i) => {
    builder.vm(101 + i, { node: "node1", workload, memoryGiB: 1 });
  });
  return builder.build();
}

export interface QemuCliFlags {
  qemuMemory?: number;
  qemuDir?: string;
  qemuSubnet?: string;
}

export function qemuLabOptions(flags: QemuCliFlags): QemuLabOptions {
  return {
    ...(flags.qemuMemory !== undefined ? { memoryMiB: flags.qemuMemory } : {}),
    ...(flags.qemuDir !== undefined ? { dir: flags.qemuDir } : {}),
    ...(flags.qemuSubnet !== undefined ? { subnet: flags.qemuSubnet } : {}),
  };
}

export function qemuGuestLines(guests: readonly QemuGuestInfo[]): string[] {
  if (guests.length === 0) return [];
  return [
    "Real QEMU guests (TCG, live-migrated over QMP; reachable from this host):",
    ...guests.map(
      (g) =>
        `  ${g.vmid} ${g.workload.padEnd(5)} ${g.address.padEnd(15)} ping, or TCP port ${g.tcpPort}  ${g.memoryMiB} MiB  qemu pid ${g.pid}`,
    ),
  ];
}
