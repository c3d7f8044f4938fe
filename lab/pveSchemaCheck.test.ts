import { describe, expect, it } from "vitest";
import { checkPveSchema, type PveSchema } from "./pveSchemaCheck.ts";

const status: PveSchema = {
  type: "object",
  properties: {
    status: { type: "string", enum: ["running", "stopped"] },
    pid: { type: "integer" },
    cpu: { type: "number", optional: 1 },
    template: { type: "boolean", optional: 1 },
    "scsi[n]": { type: "string", optional: 1 },
    tags: { type: "array", optional: 1, items: { type: "string" } },
  },
  additionalProperties: 0,
};

describe("checkPveSchema", () => {
  it("accepts a conforming value", () => {
    expect(
      checkPveSchema({ status: "running", pid: 12, cpu: 0.5, template: 0, scsi0: "x", tags: ["a"] }, status),
    ).toEqual([]);
  });

  it("reports each kind of mismatch with its path", () => {
    const problems = checkPveSchema(
      { status: "paused", pid: 1.5, template: true, tags: [1], extra: 1 },
      status,
    );
    expect(problems).toEqual([
      'data.status: string "paused" is not one of running, stopped',
      "data.pid: expected an integer, got number 1.5",
      "data.template: expected a PVE boolean (0 or 1), got boolean true",
      "data.tags[0]: expected a string, got number 1",
      "data.extra: not allowed (additionalProperties 0)",
    ]);
  });

  it("requires properties that are not optional", () => {
    expect(checkPveSchema({ status: "stopped" }, status)).toEqual(["data.pid: required property missing"]);
  });

  it("checks null and array types", () => {
    expect(checkPveSchema(null, { type: "null" })).toEqual([]);
    expect(checkPveSchema("x", { type: "null" })).toHaveLength(1);
    expect(checkPveSchema({}, { type: "array" })).toHaveLength(1);
  });
});
