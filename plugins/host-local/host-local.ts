import { validAttachments } from "../../shared/cni/attachments";
import { CniError, ErrorCode } from "../../shared/cni/errors";
import type { Result } from "../../shared/cni/result";
import type { PluginFuncs, Request } from "../../shared/cni/skeleton";
import { formatIP, formatPrefix, IP, parsePrefix } from "../../shared/net/ip";
import { allocate } from "./allocator";
import { describeIPs, HostLocalConfig, parseHostLocalConfig } from "./config";
import { readResolvConf } from "./dns";
import { rangeFor, rangeSetCapacity, describeRangeSet } from "./range-set";
import { DiskStore, Owner } from "./store";

type Req = Request<HostLocalConfig>;

const storeOf = (req: Req) => new DiskStore(req.config.dataDir, req.network);

/** ADD against `store` (the disk, or a read-only preview of it for `patchcord explain`). */
export function addWith(req: Req, store: DiskStore): Omit<Result, "cniVersion"> {
  const { config } = req;
  const dns = config.resolvConf ? readResolvConf(config.resolvConf) : undefined;
  const allocations = allocate(config.rangeSets, config.requested, store, { id: req.containerId, ifname: req.ifname });
  return {
    ips: allocations.map((a) => ({
      address: formatPrefix({ ip: a.ip, bits: a.range.subnet.bits }),
      gateway: formatIP(a.range.gateway),
    })),
    routes: config.routes.length ? config.routes : undefined,
    dns,
  };
}

async function add(req: Req): Promise<Omit<Result, "cniVersion">> {
  return addWith(req, storeOf(req));
}

/** Releases what (container id, ifname) holds; nothing held is success (DEL may repeat). */
async function del(req: Req): Promise<void> {
  const store = storeOf(req);
  for (const ip of store.findByOwner(req.containerId, req.ifname)) store.release(ip);
}

/** The reservation must exist, and every address of prevResult in our ranges must be ours. */
async function check(req: Req): Promise<void> {
  const held = storeOf(req).findByOwner(req.containerId, req.ifname);
  if (!held.length) {
    throw new CniError(ErrorCode.CheckFailed, `host-local: failed to find an address reserved for container ${req.containerId} ifname ${req.ifname}`);
  }
  const heldText = new Set(held.map(formatIP));
  for (const ipc of req.prevResult?.ips ?? []) {
    const ip = parsePrefix(ipc.address)?.ip as IP;
    const ours = req.config.rangeSets.some((set) => rangeFor(set, ip));
    if (ours && !heldText.has(formatIP(ip))) {
      throw new CniError(ErrorCode.CheckFailed, `host-local: ${ipc.address} from prevResult is not reserved for container ${req.containerId} ifname ${req.ifname}`, `reserved: ${describeIPs(held)}`);
    }
  }
}

/** Age after which a temporary file is a leftover of a crashed process, not a reservation in flight. */
const STALE_TEMP_MS = 60_000;

/**
 * Releases every reservation of this network whose owner is not a valid attachment. Files still
 * empty (being written by the reference) are left alone unless a minute old (a crash's leftover);
 * no key at all means no list, so nothing goes.
 */
async function gc(req: Req): Promise<void> {
  const attachments = validAttachments(req.raw);
  if (!attachments) return;
  const valid: Owner[] = attachments.map((a) => ({ id: a.containerId, ifname: a.ifname }));
  const store = storeOf(req);
  const key = (o: Owner) => `${o.id}\r\n${o.ifname}`;
  const validKeys = new Set(valid.map(key));
  const validIds = new Set(valid.map((o) => o.id));
  const errors: string[] = [];
  for (const r of store.reservations()) {
    if (!r.owner) continue;
    const keep = r.owner.ifname === undefined ? validIds.has(r.owner.id) : validKeys.has(key(r.owner));
    if (keep) continue;
    try {
      store.release(r.ip);
    } catch (e) {
      errors.push(`${formatIP(r.ip)}: ${(e as Error).message}`);
    }
  }
  store.removeStaleTemps(STALE_TEMP_MS);
  store.removeStaleEmpty(STALE_TEMP_MS);
  if (errors.length) throw new CniError(ErrorCode.IoFailure, "host-local: some stale reservations could not be released", errors.join("; "));
}

/** Code 50 when some range set has no address left, since then ADD cannot succeed. */
async function status(req: Req): Promise<void> {
  const reserved = storeOf(req).reservations().map((r) => r.ip);
  req.config.rangeSets.forEach((set, i) => {
    const used = BigInt(reserved.filter((ip) => rangeFor(set, ip)).length);
    if (used >= rangeSetCapacity(set)) {
      throw new CniError(ErrorCode.PluginNotAvailable, `host-local: no IP addresses left in range set ${i}: ${describeRangeSet(set)}`);
    }
  });
}

export const hostLocalPlugin: PluginFuncs<HostLocalConfig> = {
  parseConfig: parseHostLocalConfig,
  add,
  del,
  check,
  gc,
  status,
};
