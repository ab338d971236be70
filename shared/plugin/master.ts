import { CniError, ErrorCode } from "../cni/errors";
import { findLink, LinkInfo, listRoutes } from "../kernel/query";

const invalid = (msg: string): never => {
  throw new CniError(ErrorCode.InvalidNetworkConfig, msg);
};

/**
 * The parent of a macvlan or ipvlan child: `master`, or the interface of the default route (IPv4,
 * else IPv6), looked up in the pod's namespace when the master lives there (`linkInContainer`).
 * It must exist; a configured MTU may not exceed its own. Code 7 otherwise, naming the key.
 */
export async function resolveMaster(o: { master?: string; mtu?: number; inNetns?: string }): Promise<{ name: string; link: LinkInfo }> {
  const where = o.inNetns;
  const scope = where ? " in the pod's namespace" : "";
  let name = o.master;
  if (!name) {
    const defaults = (await listRoutes(where)).filter((r) => r.dst === "default" && r.dev);
    // IPv4's routes come first in the listing: its default route wins, as in the reference.
    name = defaults[0]?.dev;
    if (!name) invalid(`master: not set, and there is no default route${scope} to take it from`);
  }
  const link = await findLink(where, name!);
  if (!link) return invalid(`master: ${JSON.stringify(name)} does not exist${scope}`);
  if (o.mtu && o.mtu > link.mtu) invalid(`mtu: ${o.mtu} is above the MTU of master ${name} (${link.mtu})`);
  return { name: name!, link };
}
