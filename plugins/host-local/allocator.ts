import { CniError, ErrorCode } from "../../shared/cni/errors";
import { formatIP, IP, ipEqual } from "../../shared/net/ip";
import { describeIPs } from "./config";
import { Range } from "./range";
import { addressesAfter, describeRangeSet, rangeFor, RangeSet } from "./range-set";
import { DiskStore, Owner } from "./store";

export interface Allocation {
  ip: IP;
  range: Range;
  /** Index of the range set it came from (names its `last_reserved_ip.<N>` file). */
  set: number;
}

function allocateRequested(set: RangeSet, index: number, ip: IP, store: DiskStore, owner: Owner): Allocation {
  const range = rangeFor(set, ip);
  if (!range) throw new CniError(ErrorCode.InvalidNetworkConfig, `requested IP address ${formatIP(ip)} is not in range set ${describeRangeSet(set)}`);
  if (ipEqual(ip, range.gateway)) throw new CniError(ErrorCode.InvalidNetworkConfig, `requested IP address ${formatIP(ip)} is the subnet's gateway`);
  if (!store.reserve(ip, owner)) {
    throw new CniError(ErrorCode.AddressUnavailable, `requested IP address ${formatIP(ip)} is not available in range set ${describeRangeSet(set)}: it is already reserved`);
  }
  return { ip, range, set: index };
}

function allocateNext(set: RangeSet, index: number, store: DiskStore, owner: Owner, held: IP[]): Allocation {
  const dup = held.find((ip) => rangeFor(set, ip));
  if (dup) {
    throw new CniError(ErrorCode.AddressUnavailable, `${formatIP(dup)} has been allocated to ${owner.id}, duplicate allocation is not allowed`);
  }
  // Round-robin from the last reserved address, so a crash-looping pod does not get its old address back at once.
  for (const { ip, range } of addressesAfter(set, store.lastReserved(index))) {
    if (store.reserve(ip, owner)) return { ip, range, set: index };
  }
  throw new CniError(ErrorCode.AddressesExhausted, `no IP addresses available in range set: ${describeRangeSet(set)}`);
}

/**
 * Takes one address from every range set (a requested one where the set contains it). All or
 * nothing: if any set fails, the addresses reserved so far are released and the hints untouched.
 */
export function allocate(sets: RangeSet[], requested: IP[], store: DiskStore, owner: Owner): Allocation[] {
  store.ensureDir();
  const held = store.findByOwner(owner.id, owner.ifname ?? "");
  const done: Allocation[] = [];
  const unused = [...requested];
  try {
    sets.forEach((set, index) => {
      const wanted = unused.findIndex((ip) => rangeFor(set, ip));
      if (wanted >= 0) done.push(allocateRequested(set, index, unused.splice(wanted, 1)[0], store, owner));
      else done.push(allocateNext(set, index, store, owner, held));
    });
    if (unused.length) {
      throw new CniError(ErrorCode.InvalidNetworkConfig, `failed to allocate all requested IPs: ${describeIPs(unused)} (not in any range set)`);
    }
  } catch (e) {
    for (const a of done) {
      try {
        store.release(a.ip);
      } catch {
        // the first failure is the one to report; GC releases what stays
      }
    }
    throw e;
  }
  for (const a of done) {
    try {
      store.setLastReserved(a.set, a.ip);
    } catch {
      // Only a hint (the next search starts further back): the reservations stand, and failing
      // here would leave them behind for a runtime that never calls DEL after a failed ADD.
    }
  }
  return done;
}
