import { CniError, ErrorCode } from "../../shared/cni/errors";
import type { Interface, IPConfig, Result, Route } from "../../shared/cni/result";
import { addAddress, addRoute, addVeth, checkMtu, Plan, setLink, setSysctl } from "../../shared/kernel/ops";
import { formatPrefix, parseIP, parsePrefix } from "../../shared/net/ip";
import { masqueradeAddOps, MasqBackend } from "../../shared/plugin/ipmasq";
import { hostVethName } from "../../shared/plugin/veth";
import type { VethRoutedConfig } from "./config";
import { distinctRoutes } from "../../shared/plugin/configure";

export interface AddInput {
  cfg: VethRoutedConfig;
  network: string;
  containerId: string;
  ifname: string;
  netns: string;
  hostMac: string;
  containerMac: string;
  ipam: Pick<Result, "ips" | "routes" | "dns">;
  masqBackend?: MasqBackend;
}

const hostBits = (family: 4 | 6) => (family === 4 ? 32 : 128);
const defaultDst = (family: 4 | 6) => (family === 4 ? "0.0.0.0/0" : "::/0");

/**
 * The routed pattern: the pod has its address alone (/32 or /128) and reaches everything through
 * the node. In the pod: a link-scope route to the gateway (a gateway must be reachable before a
 * route can use it), then the default route and IPAM's routes via it. On the node: the gateway
 * address on the host veth, the return route to the pod (without it replies never come back),
 * and forwarding on. Pure: the caller applies it.
 */
export function planAdd(input: AddInput): { plan: Plan; result: Omit<Result, "cniVersion"> } {
  const { cfg, netns, ifname } = input;
  const port = hostVethName(input.containerId, ifname);
  const mtu = cfg.mtu ? Number(checkMtu(cfg.mtu)) : undefined;
  // The pod's address alone (/32, /128) is what its interface carries, so that is what the result says.
  const ips: IPConfig[] = (input.ipam.ips ?? []).map((ipc) => {
    if (!ipc.gateway) throw new CniError(ErrorCode.InvalidNetworkConfig, `IPAM gave ${ipc.address} no gateway; veth-routed uses it as the node's address towards the pod`);
    const own = parsePrefix(ipc.address)!;
    return { address: formatPrefix({ ip: own.ip, bits: hostBits(own.ip.family) }), gateway: ipc.gateway, interface: 1 };
  });
  const families = [...new Set(ips.map((i) => parsePrefix(i.address)!.ip.family))];
  const wanted: Route[] = [...(input.ipam.routes ?? [])];
  for (const family of families) {
    const gw = ips.find((i) => parsePrefix(i.address)!.ip.family === family)!.gateway;
    if (!wanted.some((r) => r.dst === defaultDst(family))) wanted.push({ dst: defaultDst(family), gw });
  }
  // One route per destination (the kernel refuses a second): IPAM's list may name one twice.
  const routes = distinctRoutes(wanted);

  const plan: Plan = [addVeth({ name: port, mac: input.hostMac, peer: ifname, peerNetns: netns, mtu, peerMac: input.containerMac })];
  // The node forwards to the pod with neighbour solicitations sent from the host veth's link-local
  // address, which would stay tentative for DAD's ~2 s after the link comes up: a new pod's first
  // IPv6 packets would wait that long. This veth has one peer, ours: no duplicate to detect.
  if (families.includes(6)) plan.push(setSysctl({ key: `net/ipv6/conf/${port}/accept_dad`, value: 0, optional: true }));
  plan.push(setLink({ name: port, up: true }));
  for (const ipc of ips) {
    const own = parsePrefix(ipc.address)!;
    const bits = hostBits(own.ip.family);
    const gwHost = formatPrefix({ ip: parseIP(ipc.gateway!)!, bits });
    const podHost = formatPrefix({ ip: own.ip, bits });
    // `replace`: every host veth carries the same gateway address, and it may already be there.
    plan.push({ tool: "ip", argv: ["addr", "replace", gwHost, "dev", port, ...(own.ip.family === 6 ? ["nodad"] : [])] });
    plan.push(addRoute({ dst: podHost, dev: port }));
  }
  plan.push(setSysctl({ key: `net/ipv6/conf/${port}/accept_ra`, value: 0, optional: true }));
  if (families.includes(4)) plan.push(setSysctl({ key: "net.ipv4.ip_forward", value: 1 }));
  if (families.includes(6)) plan.push(setSysctl({ key: "net.ipv6.conf.all.forwarding", value: 1 }));

  for (const ipc of ips) {
    const own = parsePrefix(ipc.address)!;
    const single = ipc.address;
    const nodad = own.ip.family === 6 ? ["nodad"] : [];
    if (nodad.length) plan.push({ tool: "ip", netns, argv: ["addr", "add", single, "dev", ifname, ...nodad], undo: ["addr", "del", single, "dev", ifname] });
    else plan.push(addAddress({ netns, dev: ifname, address: single }));
  }
  plan.push(setLink({ netns, name: ifname, up: true }));
  for (const ipc of ips) {
    const family = parsePrefix(ipc.address)!.ip.family;
    plan.push(addRoute({ netns, dst: formatPrefix({ ip: parseIP(ipc.gateway!)!, bits: hostBits(family) }), dev: ifname, scope: "link" }));
  }
  for (const r of routes) {
    const family = parsePrefix(r.dst)!.ip.family;
    const gw = r.gw ?? ips.find((i) => parsePrefix(i.address)!.ip.family === family)?.gateway;
    plan.push(addRoute({ netns, dst: parsePrefix(r.dst)!.bits === 0 ? "default" : r.dst, gw, dev: ifname, metric: r.priority }));
  }
  if (cfg.ipMasq && ips.length) {
    // IPAM's prefixes, not the /32s: traffic to the pod network itself is not masqueraded.
    const withSubnets = (input.ipam.ips ?? []).map((i) => i.address);
    plan.push(...masqueradeAddOps(input.masqBackend ?? "nftables", withSubnets, { network: input.network, containerId: input.containerId, ifname }));
  }

  const interfaces: Interface[] = [
    { name: port, mac: input.hostMac },
    { name: ifname, mac: input.containerMac, sandbox: netns },
  ];
  return { plan, result: { interfaces, ips, routes: routes.length ? routes : undefined, dns: cfg.dns ?? input.ipam.dns } };
}
