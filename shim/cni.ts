import { NEWEST_VERSION, isSupportedVersion } from "../shared/cni/versions";
import { utf8Decode } from "./utf8";

/** The spec's error codes the shim gives itself (shared/cni/errors.ts has the full list). */
export const TRY_AGAIN_LATER = 11;
export const IO_FAILURE = 5;
export const INTERNAL = 999;

/**
 * The spec's error JSON, printed as the plugins print it (4-space indent, a trailing newline).
 * `cniVersion` is the config's when it is one we support, as the plugins label their errors.
 */
export function errorJson(cniVersion: string | undefined, code: number, msg: string, details?: string): string {
  const out: Record<string, unknown> = { cniVersion: isSupportedVersion(cniVersion) ? cniVersion : NEWEST_VERSION, code, msg };
  if (details) out.details = details;
  return JSON.stringify(out, null, 4) + "\n";
}

/**
 * The config's cniVersion from the first bytes of stdin. `complete`: `head` is the whole of stdin,
 * which must then parse as JSON with a string cniVersion. Otherwise (a config larger than the head
 * the shim keeps) the first `"cniVersion": "..."` in the head is taken.
 */
export function sniffCniVersion(head: Uint8Array, complete: boolean): string | undefined {
  const text = utf8Decode(head);
  if (complete) {
    try {
      const doc = JSON.parse(text) as unknown;
      const v = doc && typeof doc === "object" && !Array.isArray(doc) ? (doc as Record<string, unknown>).cniVersion : undefined;
      return typeof v === "string" ? v : undefined;
    } catch {
      return undefined;
    }
  }
  const key = text.indexOf('"cniVersion"');
  if (key < 0) return undefined;
  let i = key + '"cniVersion"'.length;
  const skipSpace = (): void => {
    while (i < text.length && " \t\r\n".indexOf(text[i]) >= 0) i++;
  };
  skipSpace();
  if (text[i] !== ":") return undefined;
  i++;
  skipSpace();
  if (text[i] !== '"') return undefined;
  const close = text.indexOf('"', i + 1);
  if (close < 0) return undefined;
  const v = text.slice(i + 1, close);
  return v.indexOf("\\") >= 0 ? undefined : v;
}
