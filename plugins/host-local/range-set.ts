import { CniError, ErrorCode } from "../../shared/cni/errors";
import { addToIP, IP, ipEqual } from "../../shared/net/ip";
import { canonicalizeRange, describeRange, Range, RangeConfig, rangeCapacity, rangeContains, rangesOverlap } from "./range";

/** A pool of disjoint ranges of one family; an ADD takes one address from each set. */
export type RangeSet = Range[];

export function canonicalizeRangeSet(configs: RangeConfig[], where: string): RangeSet {
  if (!configs.length) throw new CniError(ErrorCode.InvalidNetworkConfig, `${where}: empty range set`);
  const set = configs.map((rc, i) => canonicalizeRange(rc, `${where}[${i}]`));
  for (let i = 0; i < set.length; i++) {
    if (set[i].start.family !== set[0].start.family) {
      throw new CniError(ErrorCode.InvalidNetworkConfig, `${where}: mixed address families in one range set`);
    }
    for (let j = 0; j < i; j++) {
      if (rangesOverlap(set[i], set[j])) {
        throw new CniError(ErrorCode.InvalidNetworkConfig, `${where}: ranges ${describeRange(set[j])} and ${describeRange(set[i])} overlap`);
      }
    }
  }
  return set;
}

export const rangeSetsOverlap = (a: RangeSet, b: RangeSet): boolean => a.some((ra) => b.some((rb) => rangesOverlap(ra, rb)));

/** The range of the set that holds `ip` as an allocatable address. */
export const rangeFor = (set: RangeSet, ip: IP): Range | undefined => set.find((r) => rangeContains(r, ip));

export const describeRangeSet = (set: RangeSet): string => set.map(describeRange).join(",");

export const rangeSetCapacity = (set: RangeSet): bigint => set.reduce((n, r) => n + rangeCapacity(r), 0n);

/**
 * Every allocatable address of the set, starting just after `after` (or at the first range's start
 * when `after` is not in the set), walking up through each range and wrapping around, gateways
 * skipped. Lazy: a /64 is never walked further than needed.
 */
export function* addressesAfter(set: RangeSet, after: IP | undefined): Generator<{ ip: IP; range: Range }> {
  let startRange = 0;
  let startIP = set[0].start;
  const holder = after === undefined ? -1 : set.findIndex((r) => rangeContains(r, after));
  if (after !== undefined && holder >= 0) {
    const r = set[holder];
    if (after.value < r.end.value) {
      startRange = holder;
      startIP = addToIP(after, 1n);
    } else {
      startRange = (holder + 1) % set.length;
      startIP = set[startRange].start;
    }
  }
  for (let k = 0; k <= set.length; k++) {
    const idx = (startRange + k) % set.length;
    const r = set[idx];
    const first = k === 0 ? startIP : r.start;
    // The last lap revisits the starting range below where we began.
    const stop = k === set.length ? startIP.value - 1n : r.end.value;
    for (let v = first.value; v <= stop; v++) {
      const ip: IP = { family: r.start.family, value: v };
      if (!ipEqual(ip, r.gateway)) yield { ip, range: r };
    }
  }
}
