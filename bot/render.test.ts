import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Card } from "../commands/chatPort.ts";
import { channelMessageBody, LIMITS, renderMessage } from "./render.ts";

const text = (max: number) => fc.string({ maxLength: max });
const card: fc.Arbitrary<Card> = fc.record(
  {
    title: text(400),
    lines: fc.array(text(300), { maxLength: 40 }),
    fields: fc.array(fc.record({ name: text(300), value: text(1500), inline: fc.boolean() }), {
      maxLength: 30,
    }),
    buttons: fc.array(
      fc.record({
        id: fc.stringMatching(/^[a-z]{1,5}:[a-z]{1,5}:[0-9a-f]{1,16}$/),
        label: text(100),
        style: fc.constantFrom("primary", "secondary", "success", "danger"),
      }),
      { maxLength: 30 },
    ),
    tone: fc.constantFrom("info", "success", "warning", "danger"),
    footer: text(2500),
  },
  { requiredKeys: ["title"] },
);

describe("renderMessage", () => {
  it("always stays inside Discord's limits", () => {
    fc.assert(
      fc.property(
        fc.array(card, { maxLength: 12 }),
        fc.option(text(2500), { nil: undefined }),
        (cards, t) => {
          const r = renderMessage({ cards, ...(t === undefined ? {} : { text: t }) });
          expect(r.embeds.length).toBeLessThanOrEqual(LIMITS.embeds);
          expect((r.content ?? "").length).toBeLessThanOrEqual(LIMITS.content);
          for (const e of r.embeds) {
            expect(e.title?.length ?? 0).toBeLessThanOrEqual(LIMITS.title);
            expect(e.description?.length ?? 0).toBeLessThanOrEqual(LIMITS.description);
            expect(e.fields?.length ?? 0).toBeLessThanOrEqual(LIMITS.fields);
            for (const f of e.fields ?? []) {
              expect(f.name.length).toBeGreaterThan(0);
              expect(f.name.length).toBeLessThanOrEqual(LIMITS.fieldName);
              expect(f.value.length).toBeGreaterThan(0);
              expect(f.value.length).toBeLessThanOrEqual(LIMITS.fieldValue);
            }
            const total =
              (e.title?.length ?? 0) +
              (e.description?.length ?? 0) +
              (e.footer?.text.length ?? 0) +
              (e.fields ?? []).reduce((s, f) => s + f.name.length + f.value.length, 0);
            expect(total).toBeLessThanOrEqual(LIMITS.embedTotal);
          }
          expect(r.components.length).toBeLessThanOrEqual(LIMITS.rows);
          for (const row of r.components)
            expect(row.components.length).toBeLessThanOrEqual(LIMITS.buttonsPerRow);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("pings only the role asked for, and points the embed at its attached chart", () => {
    const r = renderMessage({
      text: "Evacuation of node1 started",
      mentionRoleId: "42",
      cards: [
        {
          title: "VM 101",
          image: "chart-101.png",
          attachments: [{ name: "chart-101.png", data: new Uint8Array([1, 2]), contentType: "image/png" }],
        },
      ],
    });
    expect(r.content).toBe("<@&42> Evacuation of node1 started");
    expect(r.allowedMentions).toEqual({ parse: [], roles: ["42"] });
    expect(r.embeds[0]?.image).toEqual({ url: "attachment://chart-101.png" });
    expect(channelMessageBody(r)).toMatchObject({
      allowed_mentions: { parse: [], roles: ["42"] },
      attachments: [{ id: 0, filename: "chart-101.png" }],
    });
    expect(renderMessage({ text: "@everyone hi" }).allowedMentions).toEqual({ parse: [], roles: [] });
  });
});
