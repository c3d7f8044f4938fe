/**
 * UPID = `UPID:node:PID8:PSTART8:START8:type:id:user:` (hex fields upper-case, 8 digits; PSTART may be 9).
 * The node in a UPID is where the task runs and where its status and log must be read.
 */
import { ErrorCodes, UserError } from "../lib/errors.ts";

export interface UpidParts {
  node: string;
  pid: number;
  pstart: number;
  /** Unix seconds. */
  starttime: number;
  type: string;
  id: string;
  user: string;
}

const UPID_RE = /^UPID:([^:]+):([0-9A-F]{8}):([0-9A-F]{8,9}):([0-9A-F]{8}):([^:]*):([^:]*):([^:]*):$/;

export function parseUpid(upid: string): UpidParts {
  const m = UPID_RE.exec(upid);
  if (!m) throw new UserError(ErrorCodes.InvalidInput, `"${upid}" is not a Proxmox task id (UPID).`);
  const [, node, pid, pstart, start, type, id, user] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  return {
    node,
    pid: Number.parseInt(pid, 16),
    pstart: Number.parseInt(pstart, 16),
    starttime: Number.parseInt(start, 16),
    type,
    id,
    user,
  };
}

export function isUpid(text: string): boolean {
  return UPID_RE.test(text);
}

const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, "0");

export function formatUpid(p: UpidParts): string {
  return `UPID:${p.node}:${hex8(p.pid)}:${hex8(p.pstart)}:${hex8(p.starttime)}:${p.type}:${p.id}:${p.user}:`;
}
