/**
 * The audit log's hash chain, pure: each entry stores the hash of the one before it, and its own
 * hash = SHA-256(prevHash + canonical JSON of the event). Editing, removing or inserting an entry
 * breaks a link that `verifyChain` reports. There is no secret key: this detects tampering by
 * anyone who does not also rewrite every later entry and the head.
 */
import { createHash } from "node:crypto";

/** The `prev` of the first entry. */
export const GENESIS_HASH = "0".repeat(64);

/**
 * Canonical JSON (the RFC 8785 shape): object keys sorted by UTF-16 code units, no whitespace,
 * numbers and strings as JSON.stringify writes them. Same value → same bytes, on any machine.
 * `undefined` object properties are left out (as JSON does); anything JSON cannot carry throws.
 */
export function canonicalJson(value: unknown): string {
  return write(value, "$");
}

function write(value: unknown, where: string): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`${where}: ${value} is not a JSON number`);
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) {
        return `[${value
          .map((item, i) => {
            if (item === undefined) throw new TypeError(`${where}[${i}]: undefined in an array`);
            return write(item, `${where}[${i}]`);
          })
          .join(",")}]`;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null)
        throw new TypeError(`${where}: only plain objects are JSON (got ${proto?.constructor?.name})`);
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record)
        .filter((k) => record[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${write(record[k], `${where}.${k}`)}`).join(",")}}`;
    }
    default:
      throw new TypeError(`${where}: a ${typeof value} is not JSON`);
  }
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** Hash of an entry whose predecessor hashed to `prev`; `event` is already canonical JSON. */
export function entryHash(prev: string, event: string): string {
  return sha256Hex(prev + event);
}

/** One entry as stored: the stream id, the event's canonical JSON, and the two hashes. */
export interface ChainEntry {
  id: string;
  event: string;
  prev: string;
  hash: string;
}

/** The stored fields of the entry that follows `prev`. */
export function link(prev: string, event: unknown): Omit<ChainEntry, "id"> {
  const canonical = canonicalJson(event);
  return { event: canonical, prev, hash: entryHash(prev, canonical) };
}

export type BreakReason =
  /** `prev` is not the previous entry's hash: an entry before it was removed, or it was inserted. */
  | "prev-mismatch"
  /** The event no longer hashes to the stored hash: the entry was edited. */
  | "hash-mismatch"
  /** The event text is not canonical JSON: it was rewritten by something other than the log. */
  | "not-canonical"
  /** The last entry is not the recorded head: entries at the end were removed, or one appended around the log. */
  | "head-mismatch";

export interface ChainBreak {
  /** 0-based position in the stream; for head-mismatch, the number of entries (one past the last). */
  index: number;
  /** Stream id of the entry where the break shows; undefined for a head-mismatch on an empty log. */
  id: string | undefined;
  reason: BreakReason;
  detail: string;
}

export type VerifyResult =
  | { ok: true; count: number; head: string }
  | ({ ok: false; count: number } & ChainBreak);

/** Why `entry` does not follow an entry that hashed to `expectedPrev`, or undefined when it does. */
export function linkBreak(
  expectedPrev: string,
  entry: ChainEntry,
): { reason: BreakReason; detail: string } | undefined {
  if (entry.prev !== expectedPrev)
    return {
      reason: "prev-mismatch",
      detail: `prev is ${short(entry.prev)}, expected ${short(expectedPrev)}`,
    };
  const actual = entryHash(entry.prev, entry.event);
  if (entry.hash !== actual)
    return {
      reason: "hash-mismatch",
      detail: `stored hash ${short(entry.hash)}, content hashes to ${short(actual)}`,
    };
  let canonical: string | undefined;
  try {
    canonical = canonicalJson(JSON.parse(entry.event));
  } catch {
    canonical = undefined;
  }
  if (canonical !== entry.event) return { reason: "not-canonical", detail: "event is not canonical JSON" };
  return undefined;
}

/**
 * Streaming verifier, so a long log can be checked page by page without holding it in memory.
 * `push` returns the first break and keeps returning it; `finish` compares against the head.
 */
export class ChainVerifier {
  private prev = GENESIS_HASH;
  private index = 0;
  private broken: ChainBreak | undefined;

  push(entry: ChainEntry): ChainBreak | undefined {
    if (this.broken) return this.broken;
    const problem = linkBreak(this.prev, entry);
    if (problem) {
      this.broken = { index: this.index, id: entry.id, ...problem };
      return this.broken;
    }
    this.prev = entry.hash;
    this.index += 1;
    return undefined;
  }

  /**
   * `head` is the recorded hash of the last entry (GENESIS_HASH for an empty log); without it the
   * end of the chain is not checked, so removing trailing entries goes unnoticed.
   */
  finish(head?: string, lastId?: string): VerifyResult {
    if (this.broken) return { ok: false, count: this.index, ...this.broken };
    const expected = head ?? this.prev;
    if (expected !== this.prev)
      return {
        ok: false,
        count: this.index,
        index: this.index,
        id: lastId,
        reason: "head-mismatch",
        detail: `head is ${short(expected)}, last entry hashes to ${short(this.prev)}`,
      };
    return { ok: true, count: this.index, head: this.prev };
  }
}

export function verifyChain(entries: Iterable<ChainEntry>, head?: string): VerifyResult {
  const verifier = new ChainVerifier();
  let lastId: string | undefined;
  for (const entry of entries) {
    if (verifier.push(entry)) break;
    lastId = entry.id;
  }
  return verifier.finish(head, lastId);
}

function short(hash: string): string {
  return hash.length > 12 ? `${hash.slice(0, 12)}…` : JSON.stringify(hash);
}
