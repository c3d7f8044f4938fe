import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { connectQmp, parseQmpMessage, QmpError, splitLines } from "./qmp.ts";

describe("QMP messages", () => {
  it("parses greeting, returns, errors and events as QEMU 10 sends them", () => {
    expect(
      parseQmpMessage(
        '{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": "Debian 1:10.0.2"}, "capabilities": ["oob"]}}',
      ),
    ).toEqual({
      kind: "greeting",
      version: { qemu: { micro: 2, minor: 0, major: 10 }, package: "Debian 1:10.0.2" },
    });
    expect(parseQmpMessage('{"return": {}, "id": 3}')).toEqual({ kind: "return", value: {}, id: 3 });
    expect(
      parseQmpMessage(
        '{"error": {"class": "GenericError", "desc": "There\'s a migration process in progress"}, "id": 4}',
      ),
    ).toEqual({
      kind: "error",
      errorClass: "GenericError",
      desc: "There's a migration process in progress",
      id: 4,
    });
    expect(
      parseQmpMessage('{"timestamp": {"seconds": 1795975549, "microseconds": 486123}, "event": "STOP"}'),
    ).toEqual({ kind: "event", event: "STOP", epochMs: 1_795_975_549_486.123 });
    expect(() => parseQmpMessage('{"hello": 1}')).toThrow(/not a QMP message/);
    expect(() => parseQmpMessage("{nope")).toThrow(SyntaxError);
  });

  it("splits a stream into lines, carrying an unfinished one", () => {
    expect(splitLines("", '{"a":1}\r\n{"b"')).toEqual({ lines: ['{"a":1}'], rest: '{"b"' });
    expect(splitLines('{"b"', ":2}\n\n")).toEqual({ lines: ['{"b":2}'], rest: "" });
  });
});

describe("QMP client", () => {
  let dir: string | undefined;
  let server: Server | undefined;

  afterEach(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    if (dir) rmSync(dir, { recursive: true, force: true });
    server = undefined;
    dir = undefined;
  });

  /** A peer that behaves like QEMU's monitor: greeting, capabilities, answers by id, events in between. */
  async function fakeQemu(
    answer: (cmd: { execute: string; id: number }, socket: Socket) => void,
  ): Promise<string> {
    dir = mkdtempSync(join(tmpdir(), "qmp-test-"));
    const path = join(dir, "q.sock");
    server = createServer((socket) => {
      socket.write(
        '{"QMP": {"version": {"qemu": {"major": 10, "minor": 0, "micro": 2}}, "capabilities": []}}\n',
      );
      let carry = "";
      socket.on("data", (chunk) => {
        const { lines, rest } = splitLines(carry, chunk.toString());
        carry = rest;
        for (const line of lines) answer(JSON.parse(line), socket);
      });
    });
    await new Promise<void>((r) => server?.listen(path, r));
    return path;
  }

  it("negotiates, matches answers by id across events, and reports QMP errors", async () => {
    const path = await fakeQemu((cmd, socket) => {
      if (cmd.execute === "qmp_capabilities") {
        socket.write(`{"return": {}, "id": ${cmd.id}}\n`);
      } else if (cmd.execute === "query-status") {
        // an event first, and the answer split over two writes
        socket.write(
          '{"timestamp": {"seconds": 1, "microseconds": 0}, "event": "RESUME"}\n{"return": {"status": "run',
        );
        setTimeout(() => socket.write(`ning", "running": true}, "id": ${cmd.id}}\n`), 5);
      } else {
        socket.write(
          `{"error": {"class": "CommandNotFound", "desc": "The command ${cmd.execute} has not been found"}, "id": ${cmd.id}}\n`,
        );
      }
    });
    const qmp = await connectQmp(path);
    await expect(qmp.execute("query-status")).resolves.toEqual({ status: "running", running: true });
    expect(qmp.events.map((e) => e.event)).toEqual(["RESUME"]);
    const failure = qmp.execute("nope");
    await expect(failure).rejects.toBeInstanceOf(QmpError);
    await expect(failure).rejects.toThrow("QMP nope: The command nope has not been found");
    qmp.close();
    await qmp.closed;
    await expect(qmp.execute("query-status")).rejects.toThrow(/connection closed/);
  });

  it("fails pending commands when QEMU goes away, and times out a silent peer", async () => {
    const path = await fakeQemu((cmd, socket) => {
      if (cmd.execute === "qmp_capabilities") socket.write(`{"return": {}, "id": ${cmd.id}}\n`);
      else if (cmd.execute === "quit") socket.destroy();
    });
    const qmp = await connectQmp(path, { timeoutMs: 200 });
    await expect(qmp.execute("query-migrate")).rejects.toThrow(/no answer within 200 ms/);
    await expect(qmp.execute("quit")).rejects.toThrow(/connection closed/);
    await expect(connectQmp(join(dir as string, "missing.sock"))).rejects.toThrow(/ENOENT/);
  });
});
