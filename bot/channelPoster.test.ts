import { describe, expect, it } from "vitest";
import { isPermanentDiscordError } from "./channelPoster.ts";

describe("isPermanentDiscordError", () => {
  it("gives up on answers Discord repeats (403, 404, 400) and retries rate limits and outages", () => {
    const withStatus = (status: number) => Object.assign(new Error("discord"), { status });
    expect([400, 403, 404].map((s) => isPermanentDiscordError(withStatus(s)))).toEqual([true, true, true]);
    expect([429, 500, 502].map((s) => isPermanentDiscordError(withStatus(s)))).toEqual([false, false, false]);
    expect(isPermanentDiscordError(new Error("ECONNRESET"))).toBe(false);
  });
});
