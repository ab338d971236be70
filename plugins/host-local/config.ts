import { CniError, ErrorCode } from "../../shared/cni/errors";
import type { Invocation } from "../../shared/cni/env";
import type { Route } from "../../shared/cni/result";
import { formatIP, IP, parseIP, parsePrefix } from "../../shared/net/ip";
import { hostLocal as validateHostLocal } from "../../shared/schema/generated/validators";
import { validateConfig } from "../../shared/schema/validate";
import { RangeConfig } from "./range";
import { canonicalizeRangeSet, describeRangeSet, RangeSet, rangeSetsOverlap } from "./range-set";

export const DEFAULT_DATA_DIR = "/var/lib/cni/networks";

export interface HostLocalConfig {
  rangeSets: RangeSet[];
  routes: Route[];
  dataDir: string;
  resolvConf?: string;
  /** Addresses the runtime asked for (CNI_ARGS IP=, args.cni.ips, runtimeConfig.ips), in that order. */
  requested: IP[];
}

interface RawIpam {
  ranges?: RangeConfig[][];
  subnet?: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
  routes?: Route[];
  dataDir?: string;
  resolvConf?: string;
}

function requestedIPs(raw: Record<string, unknown>, inv: Invocation): IP[] {
  const texts: [string, string][] = [];
  if (inv.args.IP !== undefined) for (const t of inv.args.IP.split(",")) texts.push(["CNI_ARGS IP", t]);
  const argsIps = ((raw.args as Record<string, Record<string, unknown>> | undefined)?.cni?.ips ?? []) as string[];
  for (const t of argsIps) texts.push(["args.cni.ips", t]);
  const rcIps = ((raw.runtimeConfig as Record<string, unknown> | undefined)?.ips ?? []) as string[];
  for (const t of rcIps) texts.push(["runtimeConfig.ips", t]);
  const out: IP[] = [];
  for (const [where, text] of texts) {
    const ip = text.includes("/") ? parsePrefix(text)?.ip : parseIP(text);
    if (!ip) throw new CniError(ErrorCode.InvalidNetworkConfig, `${where}: must be an IP address, got ${JSON.stringify(text)}`);
    if (!out.some((o) => o.family === ip.family && o.value === ip.value)) out.push(ip);
  }
  return out;
}

/** Validates host-local's view of the config; range sets in the reference's order. */
export function parseHostLocalConfig(raw: Record<string, unknown>, inv: Invocation): HostLocalConfig {
  validateConfig(validateHostLocal, raw);
  const ipam = raw.ipam as RawIpam;
  const sets: [string, RangeConfig[]][] = [];
  const ipRanges = (raw.runtimeConfig as { ipRanges?: RangeConfig[][] } | undefined)?.ipRanges ?? [];
  ipRanges.forEach((s, i) => sets.push([`runtimeConfig.ipRanges[${i}]`, s]));
  if (ipam.subnet !== undefined) {
    sets.push(["ipam", [{ subnet: ipam.subnet, rangeStart: ipam.rangeStart, rangeEnd: ipam.rangeEnd, gateway: ipam.gateway }]]);
  }
  (ipam.ranges ?? []).forEach((s, i) => sets.push([`ipam.ranges[${i}]`, s]));
  if (!sets.length) throw new CniError(ErrorCode.InvalidNetworkConfig, "ipam: no IP ranges specified (set ipam.ranges or ipam.subnet)");
  const rangeSets = sets.map(([where, s]) => canonicalizeRangeSet(s, where));
  for (let i = 0; i < rangeSets.length; i++) {
    for (let j = 0; j < i; j++) {
      if (rangeSetsOverlap(rangeSets[i], rangeSets[j])) {
        throw new CniError(ErrorCode.InvalidNetworkConfig, `${sets[i][0]}: range set ${describeRangeSet(rangeSets[i])} overlaps with ${sets[j][0]}`);
      }
    }
  }
  return {
    rangeSets,
    routes: ipam.routes ?? [],
    dataDir: ipam.dataDir ?? DEFAULT_DATA_DIR,
    resolvConf: ipam.resolvConf,
    requested: requestedIPs(raw, inv),
  };
}

export const describeIPs = (ips: IP[]): string => ips.map(formatIP).join(",");
