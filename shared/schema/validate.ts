import type { ErrorObject } from "ajv";
import { CniError, ErrorCode } from "../cni/errors";
import { FORMAT_LABELS } from "./formats";
import { quoted } from "../cni/json-input";
import type { Validator } from "./generated/validators";

/** `/ipam/ranges/0/0/subnet` -> `ipam.ranges[0][0].subnet` */
export function jsonPath(instancePath: string, extra?: string): string {
  const parts = instancePath.split("/").slice(1);
  if (extra !== undefined) parts.push(extra);
  let out = "";
  for (const raw of parts) {
    const p = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    out += /^[0-9]+$/.test(p) ? `[${p}]` : out === "" ? p : `.${p}`;
  }
  return out === "" ? "(config)" : out;
}

/** A value quoted in a message: cut to 80 characters; Infinity (from 1e400) named, not "null". */
const shown = (v: unknown): string => quoted(v, 80);

/** One ajv error as a CniError: unknown keys are code 2 (the spec's unsupported field), the rest 7. */
export function schemaError(e: ErrorObject): CniError {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "additionalProperties": {
      const key = String(p.additionalProperty);
      const value = (e.data as Record<string, unknown>)[key];
      return new CniError(ErrorCode.UnsupportedField, `${jsonPath(e.instancePath, key)}: unsupported key (value ${shown(value)})`);
    }
    case "required":
      return new CniError(ErrorCode.InvalidNetworkConfig, `${jsonPath(e.instancePath, String(p.missingProperty))}: is required`);
    case "format":
      return new CniError(ErrorCode.InvalidNetworkConfig, `${jsonPath(e.instancePath)}: must be ${FORMAT_LABELS[String(p.format)] ?? String(p.format)}, got ${shown(e.data)}`);
    case "type":
      return new CniError(ErrorCode.InvalidNetworkConfig, `${jsonPath(e.instancePath)}: must be ${String(p.type).replace(",", " or ")}, got ${shown(e.data)}`);
    case "enum":
      return new CniError(ErrorCode.InvalidNetworkConfig, `${jsonPath(e.instancePath)}: must be one of ${shown(p.allowedValues)}, got ${shown(e.data)}`);
    default:
      return new CniError(ErrorCode.InvalidNetworkConfig, `${jsonPath(e.instancePath)}: ${e.message ?? "is invalid"}, got ${shown(e.data)}`);
  }
}

/** Runs a generated validator and throws the first problem as a CniError. */
export function validateConfig(validator: Validator, raw: unknown): void {
  if (validator(raw)) return;
  const first = validator.errors?.[0];
  throw first ? schemaError(first) : new CniError(ErrorCode.InvalidNetworkConfig, "invalid network config");
}
