import { CniError, ErrorCode } from "./errors";

/**
 * Decoding of the JSON documents a plugin is handed (its stdin, a delegated plugin's stdout).
 *
 * JSON.parse itself copes with any nesting, but everything after it recurses once per level
 * (ajv's validators, JSON.stringify of a value quoted in an error, our own walkers), and with the
 * JIT off (exec mode) a few tens of thousands of levels overflow the stack: a 10 MB document of
 * nested arrays then became error 999 with a stack dump. So the depth is measured before parsing
 * and a document nested deeper than MAX_JSON_DEPTH is refused as undecodable. No CNI config comes
 * near it (the deepest key the spec and the plugins know is 6 levels down); Go's encoding/json,
 * which the reference plugins use, stops at 10,000.
 */
export const MAX_JSON_DEPTH = 1000;

/**
 * Whether arrays and objects in `text` nest more than `limit` levels deep (brackets inside strings
 * do not count). A loop over characters with the JIT off costs ~40 ms a megabyte, so strings are
 * skipped with the native indexOf, and a text with at most `limit` brackets in all (every real
 * config) is not scanned at all.
 */
export function nestedDeeperThan(text: string, limit = MAX_JSON_DEPTH): boolean {
  if (!hasMoreBrackets(text, limit)) return false;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      i = closingQuote(text, i);
      if (i < 0) return false; // an unterminated string: JSON.parse says what is wrong
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** The index of the quote that closes the string opened at `open`, or -1. */
function closingQuote(text: string, open: number): number {
  for (let at = open; ; ) {
    at = text.indexOf('"', at + 1);
    if (at < 0) return -1;
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
}

/** Whether `text` has more than `limit` opening brackets (each found by the native indexOf). */
function hasMoreBrackets(text: string, limit: number): boolean {
  let count = 0;
  for (const open of ["[", "{"]) {
    for (let i = text.indexOf(open); i !== -1; i = text.indexOf(open, i + 1)) if (++count > limit) return true;
  }
  return false;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes `bytes` as one JSON document: UTF-8 (strictly: a replacement character would silently
 * change a name or path the writer meant), nested at most MAX_JSON_DEPTH levels. `what` names the
 * document in the error ("network config", "the result of plugin host-local"); errors are code 6.
 */
export function decodeJson(bytes: Uint8Array, what: string): unknown {
  const fail = (msg: string, details?: string): never => {
    throw new CniError(ErrorCode.DecodingFailure, `error decoding ${what}: ${msg}`, details);
  };
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return fail("not valid UTF-8", `byte ${firstInvalidUtf8(bytes)} does not start or continue a UTF-8 character`);
  }
  if (text.trim() === "") return fail("empty input (expected a JSON object)");
  if (nestedDeeperThan(text)) fail(`nested more than ${MAX_JSON_DEPTH} levels deep`, `arrays and objects may be nested at most ${MAX_JSON_DEPTH} levels`);
  try {
    return JSON.parse(text);
  } catch (e) {
    return fail("not valid JSON", shortText((e as Error).message, 200));
  }
}

/** decodeJson(), and the document must be an object (as a config and a result are). */
export function decodeJsonObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  const value = decodeJson(bytes, what);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CniError(ErrorCode.DecodingFailure, `error decoding ${what}: must be a JSON object, got ${Array.isArray(value) ? "an array" : value === null ? "null" : `a ${typeof value}`}`);
  }
  return value as Record<string, unknown>;
}

/** The offset of the first byte that breaks UTF-8 (for the message only; the decoder said there is one). */
function firstInvalidUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i];
    const n = c < 0x80 ? 0 : c >= 0xc2 && c < 0xe0 ? 1 : c >= 0xe0 && c < 0xf0 ? 2 : c >= 0xf0 && c < 0xf5 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) if (i + k >= b.length || (b[i + k] & 0xc0) !== 0x80) return i + k;
    i += n + 1;
  }
  return b.length;
}

/** `text` cut to `max` characters, saying how much was left out; for quoting input in messages. */
export function shortText(text: string, max = 120): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (${text.length - max} more characters)`;
}

/** JSON.stringify(value) for a message, cut as shortText does; never throws. */
export function quoted(value: unknown, max = 120): string {
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  if (typeof value === "string") return value.length <= max ? JSON.stringify(value) : `${JSON.stringify(value.slice(0, max))}... (${value.length - max} more characters)`;
  try {
    return shortText(JSON.stringify(value) ?? String(value), max);
  } catch {
    return Array.isArray(value) ? "an array" : typeof value;
  }
}
