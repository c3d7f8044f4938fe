/**
 * Parameter verification the way PVE::JSONSchema does it for API calls: every parameter arrives as a
 * string (query or form body) and is checked in PVE's order — missing, type, format, range, enum,
 * unknown — with PVE's messages, so a bad call earns the same 400 as on a real cluster.
 */
import { paramError } from "./apiErrors.ts";

type Common = { optional?: boolean };
export type ParamSpec =
  | (Common & {
      type: "string";
      enum?: readonly string[];
      format?: "pve-node" | "pve-vmid";
      maxLength?: number;
    })
  | (Common & { type: "integer"; minimum?: number; maximum?: number; format?: "pve-vmid" })
  | (Common & { type: "number"; minimum?: number; maximum?: number })
  | (Common & { type: "boolean" });

export type ParamSchema = Readonly<Record<string, ParamSpec>>;
export type ParamValue = string | number | boolean;
export type Params = Record<string, ParamValue>;

export const P = {
  node: { type: "string", format: "pve-node" },
  vmid: { type: "integer", format: "pve-vmid", minimum: 100, maximum: 999_999_999 },
  optVmid: { type: "integer", format: "pve-vmid", minimum: 100, maximum: 999_999_999, optional: true },
  optBool: { type: "boolean", optional: true },
  optCount: { type: "integer", minimum: 0, optional: true },
  optInt: { type: "integer", optional: true },
  optString: { type: "string", optional: true },
  upid: { type: "string" },
} as const satisfies Record<string, ParamSpec>;

const INTEGER_RE = /^[+-]?\d+$/;
const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const FORMATS: Record<string, { re: RegExp; message: string }> = {
  "pve-node": {
    re: /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/,
    message: "value does not look like a valid node name",
  },
  "pve-vmid": { re: /^[1-9][0-9]{2,8}$/, message: "value does not look like a valid VM ID" },
};

function checkOne(spec: ParamSpec, raw: string): { value?: ParamValue; error?: string } {
  switch (spec.type) {
    case "boolean":
      // PVE accepts exactly "0" and "1" over the API.
      if (raw === "1") return { value: true };
      if (raw === "0") return { value: false };
      return { error: `type check ('boolean') failed - got '${raw}'` };
    case "integer":
    case "number": {
      const ok = spec.type === "integer" ? INTEGER_RE.test(raw) : NUMBER_RE.test(raw);
      if (!ok) return { error: `type check ('${spec.type}') failed - got '${raw}'` };
      if (spec.type === "integer" && spec.format) {
        const f = FORMATS[spec.format];
        if (f && !f.re.test(raw)) return { error: `invalid format - ${f.message}\n` };
      }
      const n = Number(raw);
      if (spec.maximum !== undefined && n > spec.maximum) {
        return { error: `value must have a maximum value of ${spec.maximum}` };
      }
      if (spec.minimum !== undefined && n < spec.minimum) {
        return { error: `value must have a minimum value of ${spec.minimum}` };
      }
      return { value: n };
    }
    case "string": {
      if (spec.format) {
        const f = FORMATS[spec.format];
        if (f && !f.re.test(raw)) return { error: `invalid format - ${f.message}\n` };
      }
      if (spec.maxLength !== undefined && raw.length > spec.maxLength) {
        return { error: `value may only be ${spec.maxLength} characters long` };
      }
      if (spec.enum && !spec.enum.includes(raw)) {
        return { error: `value '${raw}' does not have a value in the enumeration '${spec.enum.join(", ")}'` };
      }
      return { value: raw };
    }
  }
}

/** Throws a 400 listing every bad parameter at once, as PVE does. */
export function validateParams(schema: ParamSchema, raw: Readonly<Record<string, string>>): Params {
  const errors: Record<string, string> = {};
  const out: Params = {};
  for (const [name, spec] of Object.entries(schema)) {
    const value = raw[name];
    if (value === undefined) {
      if (!spec.optional) errors[name] = "property is missing and it is not optional";
      continue;
    }
    const r = checkOne(spec, value);
    if (r.error !== undefined) errors[name] = r.error;
    else if (r.value !== undefined) out[name] = r.value;
  }
  for (const name of Object.keys(raw)) {
    if (!(name in schema)) {
      errors[name] = "property is not defined in schema and the schema does not allow additional properties";
    }
  }
  if (Object.keys(errors).length > 0) throw paramError(errors);
  return out;
}

export function str(params: Params, name: string): string {
  return String(params[name]);
}

export function num(params: Params, name: string): number {
  return Number(params[name]);
}

export function optNum(params: Params, name: string): number | undefined {
  return params[name] === undefined ? undefined : Number(params[name]);
}

export function flag(params: Params, name: string): boolean {
  return params[name] === true;
}
