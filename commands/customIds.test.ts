import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { customId, parseCustomId } from "./customIds.ts";

describe("custom ids", () => {
  it("round-trip prefix, action and id", () => {
    const part = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/);
    fc.assert(
      fc.property(part, part, fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/), (prefix, action, id) => {
        expect(parseCustomId(customId(prefix, action, id))).toEqual({ prefix, action, id });
      }),
    );
  });

  it("reject what they did not make", () => {
    expect(parseCustomId("plan:confirm")).toBeUndefined();
    expect(parseCustomId("Plan:confirm:x")).toBeUndefined();
    expect(parseCustomId("plan:confirm:a b")).toBeUndefined();
    expect(() => customId("plan", "confirm", "x".repeat(100))).toThrow(/100/);
  });
});
