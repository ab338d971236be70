import type { Expectation, Plugin, Verb } from "./generators";
import type { Outcome } from "./run";

/**
 * What every answer must look like, whatever the input: exit 0 with the verb's output, or a
 * non-zero exit with the spec's error JSON on stdout (an integer code the spec or our README
 * defines, never 999), within the time bound, and no stack trace anywhere.
 */

/** The spec's codes and our documented ones (README, Behaviour common to all plugins). */
export const KNOWN_CODES = new Set([1, 2, 3, 4, 5, 6, 7, 8, 11, 50, 51, 100, 101, 102, 103, 104]);

// A JavaScript stack frame ("    at f (file.ts:1:2)") or the engine's recursion error.
const STACK = /^\s+at .+(:\d+:\d+\)?|\[native code\])$|Maximum call stack|RangeError|TypeError|ReferenceError|SyntaxError: /m;

/** Why the ADD, when an ADD of well-formed input may not succeed on this kernel. */
export const ADD_CANNOT_SUCCEED: Partial<Record<Plugin, string>> = { ipvlan: "this kernel has no ipvlan module" };

export interface Judged {
  problems: string[];
  /** Exit 0. */
  accepted: boolean;
  /** The ADD's result, for CHECK and DEL after it. */
  result?: Record<string, unknown>;
}

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export function judge(plugin: Plugin, verb: Verb, expect: Expectation, config: Record<string, unknown> | undefined, o: Outcome): Judged {
  const problems: string[] = [];
  if (o.timedOut) problems.push(`no answer within the time bound (killed after ${o.ms} ms)`);
  if (STACK.test(o.stderr)) problems.push(`a stack trace or engine error on stderr: ${o.stderr.slice(0, 600)}`);
  if (STACK.test(o.stdout)) problems.push(`a stack trace or engine error on stdout`);
  const out = parse(o.stdout.trim());
  let result: Record<string, unknown> | undefined;
  if (o.code === 0) {
    if (verb === "ADD") {
      if (!isObject(out)) problems.push(`ADD exit 0 without a result JSON: ${JSON.stringify(o.stdout.slice(0, 300))}`);
      else {
        result = out;
        if (config && out.cniVersion !== config.cniVersion) problems.push(`result cniVersion ${JSON.stringify(out.cniVersion)} is not the config's ${JSON.stringify(config.cniVersion)}`);
        for (const k of ["interfaces", "ips", "routes"]) if (out[k] !== undefined && !Array.isArray(out[k])) problems.push(`result ${k} is not a list`);
        if ("code" in out) problems.push("ADD exit 0 with an error JSON");
      }
    } else if (verb === "VERSION") {
      if (!isObject(out) || typeof out.cniVersion !== "string" || !Array.isArray(out.supportedVersions)) problems.push(`VERSION answer is not the version JSON: ${o.stdout.slice(0, 300)}`);
    } else if (o.stdout.trim() !== "") problems.push(`${verb} exit 0 with output: ${o.stdout.slice(0, 300)}`);
  } else {
    if (!isObject(out)) problems.push(`exit ${o.code} without an error JSON on stdout: ${JSON.stringify(o.stdout.slice(0, 300))} (stderr ${JSON.stringify(o.stderr.slice(0, 300))})`);
    else {
      if (typeof out.cniVersion !== "string") problems.push("error JSON without a cniVersion");
      if (typeof out.code !== "number" || !Number.isInteger(out.code)) problems.push(`error code ${JSON.stringify(out.code)} is not an integer`);
      else if (out.code === 999) problems.push(`code 999 (unexpected): ${String(out.msg)}`);
      else if (!KNOWN_CODES.has(out.code)) problems.push(`code ${out.code} is neither the spec's nor documented`);
      if (typeof out.msg !== "string" || out.msg.trim() === "") problems.push("error JSON without a message");
    }
  }
  const code = isObject(out) && typeof out.code === "number" ? out.code : undefined;
  const expected = expectationText(plugin, verb, expect);
  if ("ok" in expect && o.code !== 0) problems.push(`expected success, got code ${code}: ${isObject(out) ? String(out.msg) : ""}`);
  if ("codes" in expect && (o.code === 0 || code === undefined || !expect.codes.includes(code))) problems.push(`expected code ${expect.codes.join(" or ")}, got ${o.code === 0 ? "success" : `code ${code}`}: ${isObject(out) ? String(out.msg) : o.stdout.slice(0, 200)}`);
  if ("valid" in expect) {
    const cannot = verb === "ADD" ? ADD_CANNOT_SUCCEED[plugin] : undefined;
    // CHECK of an attachment nobody added may fail; STATUS may say the pool is not available (50).
    const mayFail = verb === "CHECK" || (verb === "STATUS" && code === 50);
    if (cannot && o.code === 0) problems.push(`ADD succeeded although ${cannot}`);
    if (!cannot && !mayFail && o.code !== 0) problems.push(`well-formed ${verb} refused with code ${code}: ${isObject(out) ? String(out.msg) : ""}`);
  }
  return { problems: problems.map((p) => `${p} [expected: ${expected}]`), accepted: o.code === 0, result };
}

function expectationText(plugin: Plugin, verb: Verb, e: Expectation): string {
  if ("ok" in e) return "success";
  if ("codes" in e) return `code ${e.codes.join("/")}`;
  if ("valid" in e) return verb === "ADD" && ADD_CANNOT_SUCCEED[plugin] ? `a clear error (${ADD_CANNOT_SUCCEED[plugin]})` : verb === "CHECK" ? "a result or a spec error" : "success";
  return "a result or a spec error";
}
