import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCodes, UserError } from "../lib/errors.ts";
import type { AuditEvent } from "./events.ts";
import { canonicalJson, GENESIS_HASH, link } from "./hashChain.ts";
import {
  csvField,
  formatCsv,
  formatJsonl,
  formatTable,
  matches,
  parseSince,
  type StoredEvent,
  summarize,
} from "./query.ts";
import { SAMPLE_EVENTS } from "./sampleEvents.ts";

function stored(events: readonly AuditEvent[]): StoredEvent[] {
  let prev = GENESIS_HASH;
  return events.map((event, i) => {
    const l = link(prev, event);
    prev = l.hash;
    return { id: `${1767254400000 + i}-0`, prev: l.prev, hash: l.hash, canonical: l.event, event };
  });
}

/** Minimal RFC 4180 reader, to check what formatCsv writes can be read back. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\r" && text[i + 1] === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      i++;
    } else field += c;
  }
  return rows;
}

describe("parseSince", () => {
  const now = new Date("2026-03-10T12:00:00Z");

  it("reads spans back from now", () => {
    expect(parseSince("24h", now).toISOString()).toBe("2026-03-09T12:00:00.000Z");
    expect(parseSince("30m", now).toISOString()).toBe("2026-03-10T11:30:00.000Z");
    expect(parseSince("90s", now).toISOString()).toBe("2026-03-10T11:58:30.000Z");
    expect(parseSince("7d", now).toISOString()).toBe("2026-03-03T12:00:00.000Z");
    expect(parseSince("2w", now).toISOString()).toBe("2026-02-24T12:00:00.000Z");
  });

  it("reads ISO dates and times, UTC unless a zone is given", () => {
    expect(parseSince("2026-01-01", now).toISOString()).toBe("2026-01-01T00:00:00.000Z");
    expect(parseSince("2026-01-01T08:30", now).toISOString()).toBe("2026-01-01T08:30:00.000Z");
    expect(parseSince("2026-01-01 08:30:15", now).toISOString()).toBe("2026-01-01T08:30:15.000Z");
    expect(parseSince("2026-01-01T08:30:00+02:00", now).toISOString()).toBe("2026-01-01T06:30:00.000Z");
  });

  it("refuses anything else, naming the value and the accepted forms", () => {
    for (const bad of ["yesterday", "24", "h", "2026-13-45", "2026-02-30", "01/02/2026", "-3h", ""]) {
      let error: unknown;
      try {
        parseSince(bad, now);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(UserError);
      expect((error as UserError).code).toBe(ErrorCodes.InvalidInput);
      expect((error as UserError).message).toContain(`--since ${JSON.stringify(bad)}`);
      expect((error as UserError).message).toContain("24h");
    }
  });
});

describe("matches", () => {
  it("treats a type without a dot as a family", () => {
    const e = SAMPLE_EVENTS["migration.result"];
    expect(matches({ type: "migration" }, e)).toBe(true);
    expect(matches({ type: "migration.res" }, e)).toBe(false);
    expect(matches({ type: "evacuation" }, e)).toBe(false);
  });

  it("matches users by id or name, names in any case", () => {
    const e = SAMPLE_EVENTS["evacuation.requested"];
    expect(matches({ user: "ALICE" }, e)).toBe(true);
    expect(matches({ user: "111111111111111111" }, e)).toBe(true);
    expect(matches({ user: "bob" }, e)).toBe(false);
  });

  it("finds migrations arriving on a node", () => {
    expect(matches({ node: "node2" }, SAMPLE_EVENTS["migration.started"])).toBe(true);
    expect(matches({ node: "node2" }, SAMPLE_EVENTS["evacuation.confirmed"])).toBe(false);
  });
});

describe("summarize", () => {
  it("says something specific for every kind", () => {
    const lines = Object.fromEntries(Object.values(SAMPLE_EVENTS).map((e) => [e.type, summarize(e)]));
    expect(lines).toEqual({
      "evacuation.requested": "evacuate node1 (includeStopped, target=node2)",
      "plan.created": "plan: 2 moves, 1 blocked, 0 skipped",
      "evacuation.confirmed": "confirmed",
      "evacuation.cancelled": "cancelled, running migration aborted: maintenance postponed",
      "migration.queued": "queued → node2 (#1)",
      "migration.state": "queued → prechecking (precheck)",
      "precheck.result": "precheck: 2 pass, 1 warn, 0 fail",
      "migration.started": "started → node2 UPID:node1:00001A2B:0012D687:65920000:qmigrate:101:root@pam:",
      "migration.progress": "progress 25%",
      "migration.result":
        "ok → node2, took 21 s, downtime 57 ms, sent 2.1 GiB, clients saw 80 ms outage, loss 0.40%",
      "evacuation.finished": "completed: 2 moved, 0 failed, 0 skipped, 1 blocked",
      "command.denied": "denied /evacuate node:node2: bob lacks an operator role",
      error:
        "PVE_API: Proxmox API POST /nodes/node1/qemu/102/migrate failed (HTTP 500): VM is locked (backup)",
    });
  });
});

describe("formats", () => {
  const events = stored([
    SAMPLE_EVENTS["evacuation.requested"],
    SAMPLE_EVENTS["migration.result"],
    SAMPLE_EVENTS["command.denied"],
  ]);

  it("table: aligned columns, UTC times to the second", () => {
    expect(formatTable(events)).toBe(
      [
        "TIME                  ACTOR            TYPE                  NODE   VM   SUMMARY",
        "2026-01-01 08:00:00Z  discord:alice    evacuation.requested  node1       evacuate node1 (includeStopped, target=node2)",
        "2026-01-01 08:00:58Z  worker:worker-1  migration.result      node1  101  ok → node2, took 21 s, downtime 57 ms, sent 2.1 GiB, clients saw 80 ms outage, loss 0.40%",
        "2026-01-01 09:00:00Z  discord:bob      command.denied        node2       denied /evacuate node:node2: bob lacks an operator role",
        "",
      ].join("\n"),
    );
    expect(formatTable([])).toBe("No audit events match.\n");
  });

  it("csv: a header, one row per event, readable back, event text verbatim", () => {
    const rows = parseCsv(formatCsv(events));
    expect(rows[0]).toEqual([
      "id",
      "at",
      "actor_kind",
      "actor_id",
      "actor_name",
      "type",
      "evacuation_id",
      "node",
      "vmid",
      "summary",
      "event",
      "hash",
    ]);
    expect(rows).toHaveLength(4);
    expect(rows[2]?.[8]).toBe("101");
    expect(rows[2]?.[10]).toBe(events[1]?.canonical);
    expect(rows[3]?.[11]).toBe(events[2]?.hash);
  });

  it("csv: quotes what needs it and defuses spreadsheet formulas", () => {
    expect(csvField("plain")).toBe("plain");
    expect(csvField('say "hi", then\nleave')).toBe('"say ""hi"", then\nleave"');
    expect(csvField('=HYPERLINK("x")')).toBe('"\'=HYPERLINK(""x"")"');
    expect(csvField("@sum")).toBe("'@sum");
    expect(csvField("-12.5")).toBe("-12.5");
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.string(), { minLength: 1, maxLength: 4 }), { maxLength: 5 }),
        (table) => {
          const text = table.map((r) => `${r.map(csvField).join(",")}\r\n`).join("");
          const defuse = (v: string) => (/^[=+\-@\t\r]/.test(v) && !/^-?\d+(\.\d+)?$/.test(v) ? `'${v}` : v);
          const defused = table.map((r) => r.map(defuse));
          expect(parseCsv(text)).toEqual(defused);
        },
      ),
    );
  });

  it("jsonl: one object per line carrying the hashed text verbatim", () => {
    const lines = formatJsonl(events).trimEnd().split("\n");
    expect(lines).toHaveLength(3);
    lines.forEach((line, i) => {
      const obj = JSON.parse(line);
      expect(obj.id).toBe(events[i]?.id);
      expect(canonicalJson(obj.event)).toBe(events[i]?.canonical);
      expect(link(obj.prev, obj.event).hash).toBe(obj.hash);
    });
  });
});
