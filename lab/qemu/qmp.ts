/**
 * A QMP client over a unix socket: read the greeting, negotiate capabilities, then run commands one at a
 * time and match each answer by `id`. Events arrive interleaved with answers; they are kept, not
 * awaited. The message parsing is pure and exported for tests.
 */
import { createConnection, type Socket } from "node:net";
import { z } from "zod";

const QmpGreeting = z.object({ QMP: z.object({ version: z.unknown() }).loose() });
const QmpReturn = z.object({ return: z.unknown(), id: z.union([z.string(), z.number()]).optional() });
const QmpFailure = z.object({
  error: z.object({ class: z.string(), desc: z.string() }),
  id: z.union([z.string(), z.number()]).optional(),
});
const QmpEvent = z.object({
  event: z.string(),
  data: z.unknown().optional(),
  timestamp: z.object({ seconds: z.number(), microseconds: z.number() }),
});

export type QmpMessage =
  | { kind: "greeting"; version: unknown }
  | { kind: "return"; id?: string | number; value: unknown }
  | { kind: "error"; id?: string | number; errorClass: string; desc: string }
  | { kind: "event"; event: string; data?: unknown; epochMs: number };

export class QmpError extends Error {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    desc: string,
  ) {
    super(`QMP ${command}: ${desc}`);
    this.name = "QmpError";
  }
}

/** One line of QMP output → a message; throws on anything QMP does not send. */
export function parseQmpMessage(line: string): QmpMessage {
  const raw: unknown = JSON.parse(line);
  const greeting = QmpGreeting.safeParse(raw);
  if (greeting.success) return { kind: "greeting", version: greeting.data.QMP.version };
  const ret = QmpReturn.safeParse(raw);
  if (ret.success) {
    return {
      kind: "return",
      value: ret.data.return,
      ...(ret.data.id !== undefined ? { id: ret.data.id } : {}),
    };
  }
  const failure = QmpFailure.safeParse(raw);
  if (failure.success) {
    return {
      kind: "error",
      errorClass: failure.data.error.class,
      desc: failure.data.error.desc,
      ...(failure.data.id !== undefined ? { id: failure.data.id } : {}),
    };
  }
  const event = QmpEvent.safeParse(raw);
  if (event.success) {
    const t = event.data.timestamp;
    return {
      kind: "event",
      event: event.data.event,
      ...(event.data.data !== undefined ? { data: event.data.data } : {}),
      epochMs: t.seconds * 1000 + t.microseconds / 1000,
    };
  }
  throw new SyntaxError(`not a QMP message: ${line.slice(0, 200)}`);
}

/** Splits a stream chunk into complete lines; the unfinished tail is carried to the next chunk. */
export function splitLines(carry: string, chunk: string): { lines: string[]; rest: string } {
  const parts = (carry + chunk).split("\n");
  const rest = parts.pop() ?? "";
  return { lines: parts.map((l) => l.trim()).filter((l) => l.length > 0), rest };
}

export interface QmpClient {
  execute(command: string, args?: Record<string, unknown>): Promise<unknown>;
  /** Events seen so far, oldest first. */
  readonly events: Extract<QmpMessage, { kind: "event" }>[];
  close(): void;
  /** Resolves when the connection ends (QEMU quit or was killed). */
  readonly closed: Promise<void>;
}

interface Pending {
  command: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export interface ConnectQmpOptions {
  /** Default 5 s, for the greeting and for each command. */
  timeoutMs?: number;
}

export function connectQmp(path: string, options: ConnectQmpOptions = {}): Promise<QmpClient> {
  const timeoutMs = options.timeoutMs ?? 5000;
  return new Promise((resolveClient, rejectClient) => {
    const socket: Socket = createConnection({ path });
    const pending = new Map<number, Pending>();
    const events: Extract<QmpMessage, { kind: "event" }>[] = [];
    let carry = "";
    let nextId = 1;
    let ready = false;
    let ended = false;
    let endResolve: () => void = () => {};
    const closed = new Promise<void>((r) => {
      endResolve = r;
    });
    const greetTimer = setTimeout(
      () => fail(new Error(`QMP ${path}: no greeting within ${timeoutMs} ms`)),
      timeoutMs,
    );

    const fail = (e: Error) => {
      clearTimeout(greetTimer);
      for (const p of pending.values()) p.reject(e);
      pending.clear();
      if (!ready) rejectClient(e);
      socket.destroy();
    };

    const send = (command: string, args?: Record<string, unknown>): Promise<unknown> => {
      if (ended) return Promise.reject(new Error(`QMP ${command}: connection closed`));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`QMP ${command}: no answer within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, {
          command,
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`);
      });
    };

    const client: QmpClient = {
      execute: send,
      events,
      close: () => socket.destroy(),
      closed,
    };

    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      const { lines, rest } = splitLines(carry, chunk);
      carry = rest;
      for (const line of lines) {
        let msg: QmpMessage;
        try {
          msg = parseQmpMessage(line);
        } catch (e) {
          fail(e as Error);
          return;
        }
        if (msg.kind === "greeting") {
          clearTimeout(greetTimer);
          send("qmp_capabilities").then(
            () => {
              ready = true;
              resolveClient(client);
            },
            (e: Error) => fail(e),
          );
        } else if (msg.kind === "event") {
          events.push(msg);
        } else {
          const id = typeof msg.id === "number" ? msg.id : Number(msg.id);
          const p = pending.get(id);
          if (!p) continue;
          pending.delete(id);
          if (msg.kind === "return") p.resolve(msg.value);
          else p.reject(new QmpError(p.command, msg.errorClass, msg.desc));
        }
      }
    });
    socket.on("error", (e) => fail(e));
    socket.on("close", () => {
      ended = true;
      fail(new Error(`QMP ${path}: connection closed`));
      endResolve();
    });
  });
}
