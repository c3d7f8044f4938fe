import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ChainEntry, canonicalJson, entryHash, GENESIS_HASH, link, verifyChain } from "./hashChain.ts";

function buildChain(events: readonly unknown[]): ChainEntry[] {
  const out: ChainEntry[] = [];
  let prev = GENESIS_HASH;
  events.forEach((event, i) => {
    const entry = { id: `${i + 1}-0`, ...link(prev, event) };
    out.push(entry);
    prev = entry.hash;
  });
  return out;
}

const headOf = (chain: readonly ChainEntry[]) => chain.at(-1)?.hash ?? GENESIS_HASH;

describe("canonicalJson", () => {
  it("sorts keys at every depth and drops whitespace", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: "x" } })).toBe(
      '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  it("leaves out undefined properties, as JSON does", () => {
    expect(canonicalJson({ a: undefined, b: null })).toBe('{"b":null}');
  });

  it("refuses what JSON cannot carry", () => {
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(/\$\.a: NaN is not a JSON number/);
    expect(() => canonicalJson([1, undefined])).toThrow(/\$\[1\]: undefined in an array/);
    expect(() => canonicalJson({ when: new Date(0) })).toThrow(/only plain objects/);
    expect(() => canonicalJson(10n)).toThrow(/bigint is not JSON/);
  });

  it("does not depend on key insertion order, and re-canonicalising is a no-op", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
    );
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (record) => {
        const reversed = Object.fromEntries(Object.entries(record).reverse());
        expect(canonicalJson(reversed)).toBe(canonicalJson(record));
      }),
    );
  });
});

describe("entry hash", () => {
  it("is SHA-256 of prev hash then canonical event (checked against sha256sum)", () => {
    expect(entryHash(GENESIS_HASH, canonicalJson({ a: 1 }))).toBe(
      "fc6cee09194dd2578bd7664604fcb72a539066fd34544cea0009c43eb6cdc289",
    );
  });
});

describe("verifyChain", () => {
  const events = [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }];

  it("accepts an empty log and an intact one, and returns the head", () => {
    expect(verifyChain([], GENESIS_HASH)).toEqual({ ok: true, count: 0, head: GENESIS_HASH });
    const chain = buildChain(events);
    expect(verifyChain(chain, headOf(chain))).toEqual({ ok: true, count: 4, head: headOf(chain) });
  });

  it("names the edited entry", () => {
    const chain = buildChain(events);
    chain[2] = { ...(chain[2] as ChainEntry), event: canonicalJson({ n: 30 }) };
    expect(verifyChain(chain, headOf(chain))).toMatchObject({
      ok: false,
      index: 2,
      id: "3-0",
      reason: "hash-mismatch",
    });
  });

  it("names the entry after a removed one", () => {
    const chain = buildChain(events);
    chain.splice(1, 1);
    expect(verifyChain(chain, headOf(chain))).toMatchObject({
      ok: false,
      index: 1,
      id: "3-0",
      reason: "prev-mismatch",
    });
  });

  it("notices a removed last entry only through the head", () => {
    const chain = buildChain(events);
    const head = headOf(chain);
    chain.pop();
    expect(verifyChain(chain)).toMatchObject({ ok: true, count: 3 });
    expect(verifyChain(chain, head)).toMatchObject({
      ok: false,
      index: 3,
      id: "3-0",
      reason: "head-mismatch",
    });
  });

  it("refuses an event rewritten in non-canonical form even with a matching hash", () => {
    const chain = buildChain(events);
    const old = chain[0] as ChainEntry;
    const pretty = JSON.stringify({ n: 1 }, null, 2);
    chain[0] = { ...old, event: pretty, hash: entryHash(old.prev, pretty) };
    expect(verifyChain(chain)).toMatchObject({ ok: false, index: 0, reason: "not-canonical" });
  });

  it("verifies any sequence of events", () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue(), { maxLength: 20 }), (values) => {
        const chain = buildChain(values);
        expect(verifyChain(chain, headOf(chain))).toEqual({
          ok: true,
          count: values.length,
          head: headOf(chain),
        });
      }),
    );
  });

  type Tamper =
    | { kind: "edit"; at: number; value: unknown }
    | { kind: "delete"; at: number }
    | { kind: "insert"; at: number; value: unknown }
    | { kind: "duplicate"; at: number }
    | { kind: "swap"; at: number }
    | { kind: "field"; at: number; field: "prev" | "hash"; value: string };

  const tamper: fc.Arbitrary<Tamper> = fc.oneof(
    fc.record({ kind: fc.constant("edit" as const), at: fc.nat(), value: fc.jsonValue() }),
    fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
    fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), value: fc.jsonValue() }),
    fc.record({ kind: fc.constant("duplicate" as const), at: fc.nat() }),
    fc.record({ kind: fc.constant("swap" as const), at: fc.nat() }),
    fc.record({
      kind: fc.constant("field" as const),
      at: fc.nat(),
      field: fc.constantFrom("prev" as const, "hash" as const),
      value: fc.stringMatching(/^[0-9a-f]{64}$/),
    }),
  );

  it("detects any single modification", () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue(), { minLength: 2, maxLength: 12 }), tamper, (values, t) => {
        const chain = buildChain(values);
        const head = headOf(chain);
        const at = t.at % chain.length;
        const target = chain[at] as ChainEntry;
        switch (t.kind) {
          case "edit": {
            const text = canonicalJson(t.value);
            fc.pre(text !== target.event);
            chain[at] = { ...target, event: text };
            break;
          }
          case "delete":
            chain.splice(at, 1);
            break;
          case "insert":
            // A forger who knows the algorithm chains the new entry correctly onto its predecessor.
            chain.splice(at, 0, {
              id: "forged",
              ...link(at === 0 ? GENESIS_HASH : (chain[at - 1]?.hash ?? ""), t.value),
            });
            break;
          case "duplicate":
            chain.splice(at, 0, target);
            break;
          case "swap": {
            const other = (at + 1) % chain.length;
            chain[at] = chain[other] as ChainEntry;
            chain[other] = target;
            break;
          }
          case "field":
            fc.pre(t.value !== target[t.field]);
            chain[at] = { ...target, [t.field]: t.value };
            break;
        }
        expect(verifyChain(chain, head).ok).toBe(false);
      }),
    );
  });
});
