import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DiscordConfig } from "../config/schema.ts";
import { type FakeDiscord, startFakeDiscord } from "./fakeDiscord.ts";
import { registerCommands } from "./registerCommands.ts";

let fake: FakeDiscord;
const discord = DiscordConfig.parse({
  token: "register.test.token",
  applicationId: "410000000000000001",
  guildId: "410000000000000002",
  channelId: "410000000000000003",
});

beforeAll(async () => {
  fake = await startFakeDiscord({
    applicationId: discord.applicationId,
    guildId: discord.guildId,
    channelIds: [discord.channelId],
    roles: [],
    token: "register.test.token",
  });
});
afterAll(async () => {
  await fake.close();
});

describe("registerCommands", () => {
  it("overwrites the guild's slash commands with the registry's definitions", async () => {
    const done = await registerCommands({ discord, api: fake.restApi });
    expect(done).toEqual({
      scope: "guild",
      guildId: discord.guildId,
      names: ["evacuate", "migrate", "evacuation", "return", "audit", "nodes"],
    });
    const put = fake.requests.at(-1);
    expect(put).toMatchObject({
      method: "PUT",
      path: `/applications/${discord.applicationId}/guilds/${discord.guildId}/commands`,
      auth: "bot",
    });
    const evacuate = (
      (put?.body ?? []) as {
        name: string;
        options: { name: string; type: number; autocomplete?: boolean; required?: boolean }[];
      }[]
    ).find((c) => c.name === "evacuate");
    expect(
      evacuate?.options.map((o) => [o.name, o.type, o.required ?? false, o.autocomplete ?? false]),
    ).toEqual([
      ["node", 3, true, true],
      ["dry_run", 5, false, false],
      ["include_stopped", 5, false, false],
      ["include_containers", 5, false, false],
      ["target", 3, false, true],
    ]);
  });

  it("registers globally when asked", async () => {
    const done = await registerCommands({ discord, api: fake.restApi, global: true });
    expect(done.scope).toBe("global");
    expect(fake.requests.at(-1)?.path).toBe(`/applications/${discord.applicationId}/commands`);
  });
});
