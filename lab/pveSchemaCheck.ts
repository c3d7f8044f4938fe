/**
 * A small checker for PVE's JSON-schema dialect (the `returns` of the API viewer's apidata): types
 * string/integer/number/boolean (0/1 on the wire)/array/object/null, `properties` required unless
 * `optional`, `items`, `enum`, `additionalProperties: 0`, and config-style keys such as `scsi[n]`.
 * Used to prove the lab answers in the shapes PVE documents.
 */

export interface PveSchema {
  type?: string;
  properties?: Record<string, PveSchema>;
  items?: PveSchema;
  optional?: number | boolean;
  enum?: readonly unknown[];
  additionalProperties?: number | boolean | PveSchema;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v === "string"
    ? `string "${v.slice(0, 40)}"`
    : `${typeof v} ${JSON.stringify(v)?.slice(0, 40)}`;
}

/** `scsi[n]` in a schema stands for scsi0, scsi1, … */
function propertyFor(schema: PveSchema, key: string): PveSchema | undefined {
  const props = schema.properties ?? {};
  if (props[key]) return props[key];
  for (const [name, sub] of Object.entries(props)) {
    if (name.endsWith("[n]") && new RegExp(`^${name.slice(0, -3)}\\d+$`).test(key)) return sub;
  }
  return undefined;
}

/** Returns every mismatch as `path: problem`; empty when the value conforms. */
export function checkPveSchema(value: unknown, schema: PveSchema, path = "data"): string[] {
  const problems: string[] = [];
  const fail = (what: string) => problems.push(`${path}: ${what}, got ${describe(value)}`);
  switch (schema.type) {
    case undefined:
    case "any":
      break;
    case "string":
      if (typeof value !== "string") fail("expected a string");
      break;
    case "integer":
      if (typeof value !== "number" || !Number.isInteger(value)) fail("expected an integer");
      break;
    case "number":
      if (typeof value !== "number" || !Number.isFinite(value)) fail("expected a number");
      break;
    case "boolean":
      if (value !== 0 && value !== 1) fail("expected a PVE boolean (0 or 1)");
      break;
    case "null":
      if (value !== null) fail("expected null");
      break;
    case "array":
      if (!Array.isArray(value)) fail("expected an array");
      else if (schema.items) {
        const items = schema.items;
        value.forEach((v, i) => {
          problems.push(...checkPveSchema(v, items, `${path}[${i}]`));
        });
      }
      break;
    case "object": {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        fail("expected an object");
        break;
      }
      const obj = value as Record<string, unknown>;
      for (const [name, sub] of Object.entries(schema.properties ?? {})) {
        if (name.endsWith("[n]")) continue;
        if (obj[name] === undefined) {
          if (!sub.optional) problems.push(`${path}.${name}: required property missing`);
        }
      }
      for (const [key, v] of Object.entries(obj)) {
        const sub = propertyFor(schema, key);
        if (sub) problems.push(...checkPveSchema(v, sub, `${path}.${key}`));
        else if (schema.additionalProperties === 0 || schema.additionalProperties === false) {
          problems.push(`${path}.${key}: not allowed (additionalProperties 0)`);
        } else if (typeof schema.additionalProperties === "object") {
          problems.push(...checkPveSchema(v, schema.additionalProperties, `${path}.${key}`));
        }
      }
      break;
    }
    default:
      fail(`unknown schema type ${schema.type}`);
  }
  if (schema.enum && problems.length === 0 && !schema.enum.includes(value)) {
    problems.push(`${path}: ${describe(value)} is not one of ${schema.enum.join(", ")}`);
  }
  return problems;
}
