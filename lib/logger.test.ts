import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "./logger.ts";
import { Secret } from "./secret.ts";

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, stream };
}

describe("logger", () => {
  it("redacts secrets by path and by Secret wrapper", () => {
    const { lines, stream } = capture();
    const log = createLogger({ level: "info" }, stream);
    log.info({ pve: { tokenSecret: "s3cr3t-raw" }, headers: { authorization: "PVEAPIToken=x=y" } }, "hello");
    log.info({ cfg: { key: new Secret("wrapped-s3cr3t") } }, "wrapped");
    const out = lines.join("");
    expect(out).not.toContain("s3cr3t-raw");
    expect(out).not.toContain("PVEAPIToken=x=y");
    expect(out).not.toContain("wrapped-s3cr3t");
    expect(out).toContain("[redacted]");
  });
});
