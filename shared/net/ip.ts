/**
 * IPv4/IPv6 addresses and prefixes as bigints, parsed strictly and printed the way Go's `net`
 * package prints them (host-local names its files after that text, so we must match it).
 */

export type Family = 4 | 6;

export interface IP {
  family: Family;
  value: bigint;
}

export interface Prefix {
  /** The address as written (may have host bits set, e.g. `10.1.2.3/24` for an interface address). */
  ip: IP;
  bits: number;
}

const V4_MAX = (1n << 32n) - 1n;
const V6_MAX = (1n << 128n) - 1n;

export const familyBits = (family: Family): number => (family === 4 ? 32 : 128);
const familyMax = (family: Family): bigint => (family === 4 ? V4_MAX : V6_MAX);

function parseIPv4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  // Performance: plain numbers (exact below 2^32), one BigInt at the end. host-local parses and
  // prints every file name of its store; per-byte BigInt arithmetic was most of that with the JIT off.
  let value = 0;
  for (const part of parts) {
    // Leading zeros are rejected, as Go does: "010" would be octal to some tools.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = value * 256 + n;
  }
  return BigInt(value);
}

function parseIPv6(text: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || text.length > 45) return undefined;
  let head = text;
  let tailV4: bigint | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    tailV4 = parseIPv4(text.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const parseGroups = (s: string): number[] | undefined => {
    if (s === "") return [];
    const groups = s.split(":");
    const out: number[] = [];
    for (const g of groups) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = parseGroups(halves[0]);
  const right = halves.length === 2 ? parseGroups(halves[1]) : [];
  if (!left || !right) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - left.length - right.length;
    if (missing < 1) return undefined;
    groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  } else {
    groups = left;
  }
  if (groups.length !== 8) return undefined;
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  if (tailV4 !== undefined) value = (value & ~0xffffffffn) | tailV4;
  return value;
}

/** Parses an IPv4 or IPv6 address; IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes IPv4, as in Go. */
export function parseIP(text: string): IP | undefined {
  if (typeof text !== "string") return undefined;
  if (text.includes(":")) {
    const v = parseIPv6(text);
    if (v === undefined) return undefined;
    if (v >> 32n === 0xffffn) return { family: 4, value: v & V4_MAX };
    return { family: 6, value: v };
  }
  const v = parseIPv4(text);
  return v === undefined ? undefined : { family: 4, value: v };
}

/** Parses `ip/bits`; the address may have host bits set. */
export function parsePrefix(text: string): Prefix | undefined {
  if (typeof text !== "string") return undefined;
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const ip = parseIP(text.slice(0, slash));
  const bitsText = text.slice(slash + 1);
  if (!ip || !/^(0|[1-9][0-9]{0,2})$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  if (bits > familyBits(ip.family)) return undefined;
  // `::ffff:10.0.0.0/104` style: Go keeps it IPv6-sized; we only accept native-family prefixes.
  if (ip.family === 4 && text.slice(0, slash).includes(":")) return undefined;
  return { ip, bits };
}

export function formatIP(ip: IP): string {
  if (ip.family === 4) {
    const v = Number(ip.value & 0xffffffffn); // the low 32 bits, as the bytes below always were
    return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  // Longest run of zero groups (first one wins on a tie), only if at least two long: RFC 5952 / Go.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (bestLen < 2) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

export const formatPrefix = (p: Prefix): string => `${formatIP(p.ip)}/${p.bits}`;

export function mask(family: Family, bits: number): bigint {
  const total = familyBits(family);
  return (familyMax(family) >> BigInt(total - bits)) << BigInt(total - bits);
}

/** The network address of a prefix (host bits cleared). */
export function networkOf(p: Prefix): IP {
  return { family: p.ip.family, value: p.ip.value & mask(p.ip.family, p.bits) };
}

/** The last address of a prefix (all host bits set). */
export function lastOf(p: Prefix): IP {
  const m = mask(p.ip.family, p.bits);
  return { family: p.ip.family, value: (p.ip.value & m) | (familyMax(p.ip.family) & ~m) };
}

export function contains(p: Prefix, ip: IP): boolean {
  if (ip.family !== p.ip.family) return false;
  const m = mask(p.ip.family, p.bits);
  return (ip.value & m) === (p.ip.value & m);
}

export function overlaps(a: Prefix, b: Prefix): boolean {
  return contains(a, networkOf(b)) || contains(b, networkOf(a));
}

export const ipEqual = (a: IP, b: IP): boolean => a.family === b.family && a.value === b.value;

export const addToIP = (ip: IP, n: bigint): IP => ({ family: ip.family, value: ip.value + n });

export const isIPText = (text: string): boolean => parseIP(text) !== undefined;
export const isPrefixText = (text: string): boolean => parsePrefix(text) !== undefined;
