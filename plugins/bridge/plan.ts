import { fnv1a64 } from "../../shared/hash";
import { hostVethName } from "../../shared/plugin/veth";
import { masqBackend, masqueradeAddOps, MasqBackend } from "../../shared/plugin/ipmasq";
import { randomMac } from "../../shared/plugin/veth";
export { hostVethName, randomMac } from "../../shared/plugin/veth";
import { CniError, ErrorCode } from "../../shared/cni/errors";
import type { Interface, IPConfig, Result, Route } from "../../shared/cni/result";
import { addAddress, addRoute, addVeth, bridgeVlan, checkIfname, checkMac, checkMtu, Op, Plan, setLink, setSysctl } from "../../shared/kernel/ops";
import { attachmentTag } from "../../shared/netfilter/masquerade";
import { spoofcheckOps } from "../../shared/netfilter/spoofcheck";
import { addToIP, formatIP, formatPrefix, networkOf, overlaps, parseIP, parsePrefix } from "../../shared/net/ip";
import type { BridgeConfig } from "./config";
import { distinctRoutes } from "../../shared/plugin/configure";

/** The existing bridge as the kernel reports it; undefined when it does not exist yet. */
export interface BridgeState {
  mac: string;
  /** `ip/prefix` of each address on it. */
  addresses: string[];
  vlanFiltering: boolean;
  promisc: boolean;
}

export interface GatewayLinkState {
  name: string;
  mac: string;
  /** `ip/prefix` of each address on it. */
  addresses: string[];
}

/** Names of the VLAN gateway pair: `<bridge>.<vlan>` and its bridge-port peer. */
export function vlanGatewayNames(bridge: string, vlan: number): { name: string; peer: string } {
  return { name: checkIfname(`${bridge}.${vlan}`, "VLAN gateway link name (bridge name + . + vlan)"), peer: "veth" + fnv1a64(`gateway/${bridge}/${vlan}`).slice(0, 11) };
}

/**
 * Creates the bridge (the caller found it missing) with a fixed MAC, so that it does not follow its
 * lowest port's MAC as pods come and go; router advertisements stay off it.
 */
export function planCreateBridge(cfg: BridgeConfig, mac: string): Plan {
  const argv = ["link", "add", "name", checkIfname(cfg.bridge, "bridge")];
  if (cfg.mtu) argv.push("mtu", checkMtu(cfg.mtu));
  argv.push("address", checkMac(mac), "type", "bridge");
  if (cfg.vlan || cfg.trunk.length) argv.push("vlan_filtering", "1");
  return [{ tool: "ip", argv }, setSysctl({ key: `net/ipv6/conf/${cfg.bridge}/accept_ra`, value: 0, optional: true })];
}

/** Creates the VLAN gateway pair (the caller checked it is missing). */
export function planVlanGateway(cfg: BridgeConfig): Plan {
  const { name, peer } = vlanGatewayNames(cfg.bridge, cfg.vlan);
  return [
    addVeth({ name, peer }),
    setLink({ name: peer, master: cfg.bridge, up: true }),
    ...(cfg.preserveDefaultVlan ? [] : [bridgeVlan({ action: "del", dev: peer, vid: 1 })]),
    bridgeVlan({ action: "add", dev: peer, vid: cfg.vlan, pvid: true, untagged: true }),
    setLink({ name, up: true }),
  ];
}

export interface AddInput {
  cfg: BridgeConfig;
  network: string;
  containerId: string;
  ifname: string;
  netns: string;
  bridge: BridgeState;
  hostMac: string;
  containerMac: string;
  /**
   * With `vlan` and `isGateway`, the link that holds the gateway address: `<bridge>.<vlan>`, one
   * end of a veth pair whose other end is a bridge port in that VLAN (the reference's layout).
   */
  gatewayLink?: GatewayLinkState;
  /** How ipMasq is done: nftables sets (our default) or the reference's iptables chains. */
  masqBackend?: MasqBackend;
  /** IPAM's result (empty for L2-only). */
  ipam: Pick<Result, "ips" | "routes" | "dns">;
}

/**
 * The planner's input for one attachment at run time: fresh random MACs (the configured one for
 * the pod if any) and the masquerade backend this node has.
 */
export function addInputFor(
  cfg: BridgeConfig,
  at: { network: string; containerId: string; ifname: string; netns: string },
  bridge: BridgeState,
  ipam: AddInput["ipam"],
  gatewayLink?: GatewayLinkState,
): AddInput {
  const masq = cfg.ipMasq ? masqBackend(cfg.ipMasqBackend) : undefined;
  return { cfg, ...at, bridge, hostMac: randomMac(), containerMac: cfg.mac ?? randomMac(), masqBackend: masq, gatewayLink, ipam };
}

export interface AddPlan {
  plan: Plan;
  result: Omit<Result, "cniVersion">;
}

const sysctlKey = (family: "ipv4" | "ipv6", ifname: string, leaf: string) => `net/${family}/conf/${ifname}/${leaf}`;

/** The gateway address for the bridge, or an error when the bridge holds a conflicting one. */
function gatewayOps(input: AddInput, ips: IPConfig[]): Op[] {
  const { cfg } = input;
  const device = input.gatewayLink?.name ?? cfg.bridge;
  const addresses = input.gatewayLink?.addresses ?? input.bridge.addresses;
  const ops: Op[] = [];
  for (const ipc of ips) {
    if (!ipc.gateway) continue;
    const own = parsePrefix(ipc.address)!;
    const gw = formatPrefix({ ip: parseIP(ipc.gateway)!, bits: own.bits });
    if (addresses.includes(gw)) continue;
    const conflicting = addresses.filter((a) => {
      const p = parsePrefix(a)!;
      if (p.ip.family !== own.ip.family) return false;
      // IPv4: one gateway per bridge; IPv6: non-overlapping prefixes may coexist.
      return own.ip.family === 4 || overlaps(p, parsePrefix(gw)!);
    });
    if (conflicting.length && !cfg.forceAddress) {
      throw new CniError(ErrorCode.InvalidNetworkConfig, `${JSON.stringify(device)} already has an address ${conflicting.join(", ")} different from ${gw} (set forceAddress to replace it)`);
    }
    for (const old of conflicting) ops.push({ tool: "ip", argv: ["addr", "del", old, "dev", device] });
    // `replace` is idempotent, so two first pods racing to set the gateway both succeed.
    ops.push({ tool: "ip", argv: ["addr", "replace", gw, "dev", device] });
  }
  return ops;
}

function vlanOps(cfg: BridgeConfig, port: string): Op[] {
  if (!cfg.vlan && !cfg.trunk.length) return [];
  const ops: Op[] = [];
  // A new port starts with the bridge's default PVID 1; the pod's VLANs replace it unless preserved.
  if (!cfg.preserveDefaultVlan) ops.push(bridgeVlan({ action: "del", dev: port, vid: 1 }));
  if (cfg.vlan) ops.push(bridgeVlan({ action: "add", dev: port, vid: cfg.vlan, pvid: true, untagged: true }));
  else if (!cfg.preserveDefaultVlan) ops.push(bridgeVlan({ action: "add", dev: port, vid: 1, pvid: true, untagged: true }));
  for (const vid of cfg.trunk) if (vid !== cfg.vlan) ops.push(bridgeVlan({ action: "add", dev: port, vid }));
  return ops;
}

/** The routes the pod gets: IPAM's, plus a default route per family for isDefaultGateway. */
function podRoutes(cfg: BridgeConfig, ips: IPConfig[], ipamRoutes: Route[]): Route[] {
  const routes = [...ipamRoutes];
  if (!cfg.isDefaultGateway) return routes;
  for (const family of [4, 6]) {
    const withGw = ips.find((i) => parsePrefix(i.address)!.ip.family === family && i.gateway);
    if (!withGw) continue;
    const dst = family === 4 ? "0.0.0.0/0" : "::/0";
    if (routes.some((r) => r.dst === dst && r.gw)) continue;
    routes.push({ dst, gw: withGw.gateway });
  }
  return routes;
}

/**
 * Everything ADD does to the kernel, in order: host side (veth with its container end created in
 * the pod's netns, port settings, gateway, forwarding), then the pod side (sysctls, addresses, link
 * up, routes), then masquerade. Pure: the caller applies it.
 */
export function planAdd(input: AddInput): AddPlan {
  const { cfg, netns, ifname } = input;
  const port = hostVethName(input.containerId, ifname);
  const mtu = cfg.mtu ? Number(checkMtu(cfg.mtu)) : undefined;
  checkIfname(cfg.bridge, "bridge");
  const plan: Plan = [];

  // Pod addresses: every IP belongs to the container interface (index 2); a gateway bridge
  // without an IPAM gateway uses the subnet's first address, as the reference does.
  const ips: IPConfig[] = (input.ipam.ips ?? []).map((ipc) => {
    const p = parsePrefix(ipc.address)!;
    const gateway = ipc.gateway ?? (cfg.isGateway ? formatIP(addToIP(networkOf(p), 1n)) : undefined);
    return { address: ipc.address, ...(gateway ? { gateway } : {}), interface: 2 };
  });
  const routes = distinctRoutes(podRoutes(cfg, ips, input.ipam.routes ?? []));

  // Host side.
  plan.push(setLink({ name: cfg.bridge, up: true }));
  if (cfg.promiscMode && !input.bridge.promisc) plan.push({ tool: "ip", argv: ["link", "set", "dev", cfg.bridge, "promisc", "on"] });
  if ((cfg.vlan || cfg.trunk.length) && !input.bridge.vlanFiltering) {
    plan.push({ tool: "ip", argv: ["link", "set", "dev", cfg.bridge, "type", "bridge", "vlan_filtering", "1"] });
  }
  plan.push(addVeth({ name: port, mac: input.hostMac, master: cfg.bridge, peer: ifname, peerNetns: netns, mtu, peerMac: input.containerMac }));
  plan.push({
    tool: "ip",
    argv: ["link", "set", "dev", port, "type", "bridge_slave", "hairpin", cfg.hairpinMode ? "on" : "off", "isolated", cfg.portIsolation ? "on" : "off"],
  });
  plan.push(setLink({ name: port, up: true }));
  if (cfg.isGateway) plan.push(...gatewayOps(input, ips));
  plan.push(...vlanOps(cfg, port));
  plan.push(setSysctl({ key: sysctlKey("ipv6", port, "accept_ra"), value: 0, optional: true }));
  const families = new Set(ips.map((i) => parsePrefix(i.address)!.ip.family));
  if (cfg.isGateway && families.has(4)) plan.push(setSysctl({ key: "net.ipv4.ip_forward", value: 1 }));
  if (cfg.isGateway && families.has(6)) plan.push(setSysctl({ key: "net.ipv6.conf.all.forwarding", value: 1 }));

  // Pod side.
  if (!cfg.disableContainerInterface) {
    plan.push(setSysctl({ netns, key: sysctlKey("ipv4", ifname, "arp_notify"), value: 1 }));
    if (families.has(6)) {
      plan.push(setSysctl({ netns, key: sysctlKey("ipv6", ifname, "disable_ipv6"), value: 0 }));
      if (cfg.enabledad) plan.push(setSysctl({ netns, key: sysctlKey("ipv6", ifname, "enhanced_dad"), value: 1 }));
      plan.push(setSysctl({ netns, key: sysctlKey("ipv6", ifname, "accept_dad"), value: cfg.enabledad ? 1 : 0 }));
    }
    for (const ipc of ips) plan.push(addAddress({ netns, dev: ifname, address: ipc.address }));
    plan.push(setLink({ netns, name: ifname, up: true }));
    for (const r of routes) {
      const family = parsePrefix(r.dst)!.ip.family;
      const gw = r.gw ?? ips.find((i) => parsePrefix(i.address)!.ip.family === family)?.gateway;
      plan.push(addRoute({ netns, dst: r.dst, gw, dev: ifname, metric: r.priority, table: r.table }));
    }
  }
  const attachment = { network: input.network, containerId: input.containerId, ifname };
  if (cfg.macspoofchk) plan.push(spoofcheckOps(port, input.containerMac, attachmentTag(attachment)));
  if (cfg.ipMasq && ips.length) plan.push(...masqueradeAddOps(input.masqBackend ?? "nftables", ips.map((i) => i.address), attachment));

  const interfaces: Interface[] = [
    { name: cfg.bridge, mac: input.bridge.mac },
    { name: port, mac: input.hostMac },
    { name: ifname, mac: input.containerMac, sandbox: netns },
  ];
  if (input.gatewayLink) interfaces.push({ name: input.gatewayLink.name, mac: input.gatewayLink.mac });
  const dns = cfg.dns ?? input.ipam.dns;
  return { plan, result: { interfaces, ips: ips.length ? ips : undefined, routes: routes.length ? routes : undefined, dns } };
}
