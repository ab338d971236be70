import type { IPConfig, Route } from "../cni/result";
import { addAddress, addRoute, Op, setLink, setSysctl } from "../kernel/ops";
import { formatIP, networkOf, parsePrefix } from "../net/ip";

/**
 * The pod side of most plugins, as the reference's ConfigureIface: `arp_notify` (and
 * `ndisc_notify` for IPv6) so neighbours learn the new MAC, the addresses, link up, then the
 * routes, each via its own gateway or else the gateway of an address of the same family.
 */
export function configureInterfaceOps(netns: string, ifname: string, ips: IPConfig[], routes: Route[], o: { dad?: boolean } = {}): Op[] {
  const ops: Op[] = [setSysctl({ netns, key: `net/ipv4/conf/${ifname}/arp_notify`, value: 1 })];
  const families = new Set(ips.map((i) => parsePrefix(i.address)!.ip.family));
  if (families.has(6)) {
    ops.push(setSysctl({ netns, key: `net/ipv6/conf/${ifname}/disable_ipv6`, value: 0 }));
    ops.push(setSysctl({ netns, key: `net/ipv6/conf/${ifname}/ndisc_notify`, value: 1 }));
    ops.push(setSysctl({ netns, key: `net/ipv6/conf/${ifname}/accept_dad`, value: o.dad ? 1 : 0 }));
  }
  for (const ipc of ips) ops.push(addAddress({ netns, dev: ifname, address: ipc.address }));
  ops.push(setLink({ netns, name: ifname, up: true }));
  for (const r of distinctRoutes(routes)) {
    const family = parsePrefix(r.dst)!.ip.family;
    const gw = r.gw ?? ips.find((i) => parsePrefix(i.address)!.ip.family === family)?.gateway;
    ops.push(addRoute({ netns, dst: r.dst, gw, dev: ifname, metric: r.priority, table: r.table }));
  }
  return ops;
}

/**
 * `routes` without those that name an earlier one's destination (same table and metric): the
 * kernel refuses such a second route ("File exists"), so the first one wins, as the reference's
 * ConfigureIface means to do (it fails instead). IPAM's `0.0.0.0/0` and isDefaultGateway's are
 * such a pair. ADD configures these and CHECK looks for these.
 */
export function distinctRoutes<R extends Route>(routes: R[]): R[] {
  const seen = new Set<string>();
  return routes.filter((r) => {
    const key = routeKey(r);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** What makes two routes the same route to the kernel: destination network, table and metric. */
function routeKey(r: Route): string {
  const p = parsePrefix(r.dst);
  if (!p) return `unparsed ${r.dst}`;
  return `${formatIP(networkOf(p))}/${p.bits} table ${r.table ?? "main"} metric ${r.priority ?? "default"}`;
}
