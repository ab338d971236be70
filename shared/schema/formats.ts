import { absolutePathProblem, interfaceNameProblem, operatorPathProblem } from "../cni/names";
import { parseIP, parsePrefix } from "../net/ip";

/**
 * String formats used by the JSON Schemas. The generated validators (scripts/build-schemas.mjs)
 * require this module, so the checks are ours and the compiled schema code stays small.
 */
export const cidr = (s: string): boolean => parsePrefix(s) !== undefined;
export const ip = (s: string): boolean => parseIP(s) !== undefined;
/** `ip` or `ip/prefix` (the `ips` capability and `args.cni.ips`). */
export const ipMaybePrefix = (s: string): boolean => (s.includes("/") ? cidr(s) : ip(s));
export const ifname = (s: string): boolean => interfaceNameProblem(s) === undefined;
export const absPath = (s: string): boolean => absolutePathProblem(s) === undefined;
/** A path the operator wrote in the conflist (names.ts operatorPathProblem: as lax as the reference). */
export const operatorPath = (s: string): boolean => operatorPathProblem(s) === undefined;
export const mac = (s: string): boolean => /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(s);

/** How an error message names what a format expects. */
export const FORMAT_LABELS: Record<string, string> = {
  cidr: "a CIDR",
  ip: "an IP address",
  ipMaybePrefix: "an IP address, optionally with /prefix",
  ifname: "an interface name (1-15 bytes, no / : or whitespace)",
  absPath: "an absolute path without .. components",
  operatorPath: "an absolute path without control characters",
  mac: "a MAC address (six hex bytes separated by :)",
};
