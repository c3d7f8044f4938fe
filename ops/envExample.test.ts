import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ENV_VARS } from "../config/load.ts";
import { REGENERATE, renderEnvExample } from "./envExample.ts";

describe(".env.example", () => {
  it("is up to date with ENV_VARS", () => {
    const committed = readFileSync(new URL("../.env.example", import.meta.url), "utf8");
    expect(
      committed === renderEnvExample(),
      `.env.example is stale (a variable was added or changed in config/load.ts): run \`${REGENERATE}\``,
    ).toBe(true);
  });

  it("lists every variable once, with its default", () => {
    const text = renderEnvExample();
    for (const v of ENV_VARS) {
      expect(text.match(new RegExp(`^#?${v.name}=`, "gm")), v.name).toHaveLength(1);
    }
    expect(text).toMatch(/^#PVE_PORT=8006$/m);
    expect(text).toMatch(/^#MIGRATION_PINNED_TAGS=pinned,no-evacuate$/m);
    expect(text).toMatch(/^PVE_HOST=$/m);
  });
});
