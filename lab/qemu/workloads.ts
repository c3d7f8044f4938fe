/**
 * What runs inside a QEMU lab guest, by the lab's workload names, as kernel command-line settings read by
 * the guest's /init (lab/qemu/guest/init) and run by its helper (lab/qemu/guest/lab-load.c). Pure.
 *
 * - idle: the kernel and a shell; almost nothing is dirtied.
 * - video: a steady stream, as a player decoding into a ring of frame buffers: a moderate, constant rate
 *   over a bounded ring, so each pre-copy round leaves little behind.
 * - game: a frame loop rewriting state spread over a large working set, flat out: the guest dirties memory
 *   faster than the migration link carries it, as the study's game did.
 */
import type { WorkloadName } from "../cluster.ts";

export interface GameLoad {
  workingSetMiB: number;
  /** Frames per second; 0 = as fast as the vCPU runs. */
  fps: number;
}

export interface VideoLoad {
  kibPerSecond: number;
  ringMiB: number;
  fps: number;
}

export interface GuestLoads {
  game: GameLoad;
  video: VideoLoad;
}

export const DEFAULT_VIDEO_LOAD: VideoLoad = { kibPerSecond: 4096, ringMiB: 16, fps: 25 };

/**
 * Half the guest's memory, as long as ~80 MiB stay for the kernel and the unpacked initramfs (a 128 MiB
 * guest has about 79 MiB to give; more gets the game OOM-killed).
 */
export function defaultGameLoad(memoryMiB: number): GameLoad {
  return { workingSetMiB: Math.max(8, Math.min(Math.floor(memoryMiB / 2), memoryMiB - 80)), fps: 0 };
}

export function guestLoads(memoryMiB: number, overrides: Partial<GuestLoads> = {}): GuestLoads {
  return { game: overrides.game ?? defaultGameLoad(memoryMiB), video: overrides.video ?? DEFAULT_VIDEO_LOAD };
}

/** The `lab.*` kernel arguments for a guest running `workload`. */
export function workloadArgs(workload: WorkloadName, loads: GuestLoads): string[] {
  switch (workload) {
    case "idle":
      return ["lab.workload=idle"];
    case "game":
      return ["lab.workload=game", `lab.game=${loads.game.workingSetMiB}:${loads.game.fps}`];
    case "video":
      return [
        "lab.workload=video",
        `lab.video=${loads.video.kibPerSecond}:${loads.video.ringMiB}:${loads.video.fps}`,
      ];
  }
}
