/**
 * Is this machine set up for the QEMU lab? Reads the manifest lab/qemu/setup.sh writes and checks what a
 * run needs (root, QEMU, kernel, initramfs, `ip`, `ping`, `setpriv`). Answers with a reason a user can act
 * on rather than throwing, so benchmarks and tests can say "not available: …".
 */
import { execFileSync } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import { z } from "zod";

export const DEFAULT_QEMU_DIR = "/var/cache/pve-evacuate-qemu";

export const QemuManifest = z.object({
  qemu: z.string().min(1),
  dataDirs: z.array(z.string().min(1)),
  kernel: z.string().min(1),
  initrd: z.string().min(1),
  qemuVersion: z.string(),
  kernelPackage: z.string().optional(),
  inputs: z.string().optional(),
});
export type QemuManifest = z.infer<typeof QemuManifest>;

export type QemuAvailability =
  | { available: true; manifest: QemuManifest }
  | { available: false; reason: string };

/** Where setup.sh put things: the option, else $PVE_EVACUATE_QEMU_DIR, else the default. */
export function qemuDir(dir?: string): string {
  return dir ?? process.env.PVE_EVACUATE_QEMU_DIR ?? DEFAULT_QEMU_DIR;
}

function onPath(program: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${program}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export function checkQemuAvailability(dir?: string): QemuAvailability {
  const base = qemuDir(dir);
  const setupHint = "run lab/qemu/setup.sh as root";
  if (process.getuid?.() !== 0) return { available: false, reason: "needs root (network namespaces, taps)" };
  let manifest: QemuManifest;
  try {
    manifest = QemuManifest.parse(JSON.parse(readFileSync(`${base}/manifest.json`, "utf8")));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === "ENOENT" ? "not set up" : (e as Error).message;
    return { available: false, reason: `${base}/manifest.json: ${why} (${setupHint})` };
  }
  for (const [what, path, mode] of [
    ["QEMU", manifest.qemu, constants.X_OK],
    ["guest kernel", manifest.kernel, constants.R_OK],
    ["initramfs", manifest.initrd, constants.R_OK],
  ] as const) {
    try {
      accessSync(path, mode);
    } catch {
      return { available: false, reason: `${what} missing at ${path} (${setupHint})` };
    }
  }
  for (const program of ["ip", "ping", "setpriv", "tc"]) {
    if (!onPath(program)) return { available: false, reason: `${program} not found on PATH (${setupHint})` };
  }
  return { available: true, manifest };
}
