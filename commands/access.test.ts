import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type AccessPolicy, decideAccess } from "./access.ts";

const policy: AccessPolicy = {
  guildId: "g",
  channelId: "ops",
  allowedChannelIds: [],
  operatorRoleIds: ["op"],
  viewerRoleIds: ["view"],
};
const at = (roles: string[], channelId = "ops", guildId: string | undefined = "g") => ({
  guildId,
  channelId,
  roles,
});

describe("decideAccess", () => {
  it("lets operators change and read, viewers only read, others nothing", () => {
    expect(decideAccess(policy, at(["op"]), "change")).toEqual({ allowed: true });
    expect(decideAccess(policy, at(["op"]), "read")).toEqual({ allowed: true });
    expect(decideAccess(policy, at(["view"]), "read")).toEqual({ allowed: true });
    expect(decideAccess(policy, at(["view"]), "change")).toEqual({
      allowed: false,
      reason: "You need an operator role (<@&op>) to run this.",
    });
    expect(decideAccess(policy, at([]), "read")).toEqual({
      allowed: false,
      reason: "You need a viewer or operator role (<@&view>, <@&op>) to run this.",
    });
  });

  it("takes commands only in the configured guild and channels", () => {
    expect(
      decideAccess(policy, { guildId: undefined, channelId: "ops", roles: ["op"] }, "read"),
    ).toMatchObject({
      allowed: false,
      reason: expect.stringContaining("not in direct messages"),
    });
    expect(decideAccess(policy, at(["op"], "ops", "other"), "read")).toMatchObject({ allowed: false });
    expect(decideAccess(policy, at(["op"], "random"), "read")).toEqual({
      allowed: false,
      reason: "Commands are not accepted in this channel; use <#ops>.",
    });
    const wider = { ...policy, allowedChannelIds: ["a", "b"] };
    expect(decideAccess(wider, at(["op"], "b"), "change")).toEqual({ allowed: true });
    expect(decideAccess(wider, at(["op"], "ops"), "change")).toMatchObject({ allowed: false });
  });

  it("refuses every change when no operator role is configured; reads are open without viewer roles", () => {
    const open = { ...policy, operatorRoleIds: [], viewerRoleIds: [] };
    expect(decideAccess(open, at([]), "change")).toMatchObject({
      allowed: false,
      reason: expect.stringContaining("DISCORD_OPERATOR_ROLE_IDS"),
    });
    expect(decideAccess(open, at([]), "read")).toEqual({ allowed: true });
  });

  it("never allows a change that it would not allow as a read", () => {
    const id = fc.constantFrom("a", "b", "c", "op", "view");
    fc.assert(
      fc.property(
        fc.record({
          operatorRoleIds: fc.array(id, { maxLength: 2 }),
          viewerRoleIds: fc.array(id, { maxLength: 2 }),
          allowedChannelIds: fc.array(id, { maxLength: 2 }),
        }),
        fc.array(id, { maxLength: 3 }),
        id,
        (p, roles, channel) => {
          const full = { ...p, guildId: "g", channelId: "ops" };
          if (decideAccess(full, at(roles, channel), "change").allowed) {
            expect(decideAccess(full, at(roles, channel), "read").allowed).toBe(true);
          }
        },
      ),
    );
  });
});
