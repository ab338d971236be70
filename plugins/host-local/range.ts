import { CniError, ErrorCode } from "../../shared/cni/errors";
import { addToIP, contains, familyBits, formatIP, formatPrefix, IP, lastOf, networkOf, parseIP, parsePrefix, Prefix } from "../../shared/net/ip";

/** One range of a range set, with every default filled in. */
export interface Range {
  subnet: Prefix;
  start: IP;
  end: IP;
  gateway: IP;
}

export interface RangeConfig {
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
}

const invalid = (where: string, msg: string): never => {
  throw new CniError(ErrorCode.InvalidNetworkConfig, `${where}: ${msg}`);
};

/**
 * Fills in host-local's defaults (gateway and start = network+1; end = broadcast-1 for IPv4, the last
 * address for IPv6) and checks the range lies inside its subnet. `where` names it in errors.
 */
export function canonicalizeRange(rc: RangeConfig, where: string): Range {
  const subnet = parsePrefix(rc.subnet) ?? invalid(`${where}.subnet`, `must be a CIDR, got ${JSON.stringify(rc.subnet)}`);
  const network = networkOf(subnet);
  if (network.value !== subnet.ip.value) {
    invalid(`${where}.subnet`, `${rc.subnet} has host bits set; the network is ${formatPrefix({ ip: network, bits: subnet.bits })}`);
  }
  if (familyBits(subnet.ip.family) - subnet.bits < 2) invalid(`${where}.subnet`, `${rc.subnet} is too small to allocate from`);
  const last = lastOf(subnet);
  const ipIn = (key: "rangeStart" | "rangeEnd" | "gateway"): IP | undefined => {
    const text = rc[key];
    if (text === undefined) return undefined;
    const ip = parseIP(text) ?? invalid(`${where}.${key}`, `must be an IP address, got ${JSON.stringify(text)}`);
    if (key !== "gateway" && !contains(subnet, ip)) invalid(`${where}.${key}`, `${text} is not in ${rc.subnet}`);
    return ip;
  };
  const range: Range = {
    subnet,
    start: ipIn("rangeStart") ?? addToIP(network, 1n),
    end: ipIn("rangeEnd") ?? (subnet.ip.family === 4 ? addToIP(last, -1n) : last),
    gateway: ipIn("gateway") ?? addToIP(network, 1n),
  };
  if (range.start.value > range.end.value) invalid(where, `rangeStart ${formatIP(range.start)} is after rangeEnd ${formatIP(range.end)}`);
  return range;
}

export const rangeContains = (r: Range, ip: IP): boolean =>
  ip.family === r.start.family && ip.value >= r.start.value && ip.value <= r.end.value;

export const rangesOverlap = (a: Range, b: Range): boolean =>
  a.start.family === b.start.family && a.start.value <= b.end.value && b.start.value <= a.end.value;

export const describeRange = (r: Range): string => `${formatIP(r.start)}-${formatIP(r.end)}`;

/** How many addresses the range can hand out (the gateway excluded when inside it). */
export const rangeCapacity = (r: Range): bigint =>
  r.end.value - r.start.value + 1n - (rangeContains(r, r.gateway) ? 1n : 0n);
