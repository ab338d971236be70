import type { Invocation } from "../shared/cni/env";
import type { Result } from "../shared/cni/result";
import { pluginFor } from "../plugins/registry";
import { renderShell, deleteLink, Op } from "../shared/kernel/ops";
import { findLink } from "../shared/kernel/query";
import { formatPrefix } from "../shared/net/ip";
import { masqBackend } from "../shared/plugin/ipmasq";
import { resolveMaster } from "../shared/plugin/master";
import { hostVethName, randomMac } from "../shared/plugin/veth";
import { unmasqueradeOps } from "../shared/netfilter/masquerade";
import { bridgeState } from "../plugins/bridge/bridge";
import { parseBridgeConfig } from "../plugins/bridge/config";
import { addInputFor, planAdd as bridgePlan, planCreateBridge, planVlanGateway, vlanGatewayNames } from "../plugins/bridge/plan";
import { parseHostLocalConfig } from "../plugins/host-local/config";
import { addWith } from "../plugins/host-local/host-local";
import { PreviewStore } from "../plugins/host-local/preview";
import { rangeFor } from "../plugins/host-local/range-set";
import { parseIpvlanConfig } from "../plugins/ipvlan/config";
import { planAdd as ipvlanPlan } from "../plugins/ipvlan/plan";
import { parseMacvlanConfig } from "../plugins/macvlan/config";
import { planAdd as macvlanPlan } from "../plugins/macvlan/plan";
import { parseVethRoutedConfig } from "../plugins/veth-routed/config";
import { planAdd as routedPlan } from "../plugins/veth-routed/plan";

/**
 * What one patchcord plugin of a conflist would do, as shell lines: the same planners the plugins
 * run, fed with what the kernel and the IPAM store say now (read, never written) and with the MACs
 * the plugin would pick (random, as at run time). Comments say what is not a kernel command.
 */
export interface Explained {
  lines: string[];
  /** The result the next plugin of the chain would get (ADD). */
  result?: Omit<Result, "cniVersion">;
}

type Ipam = Pick<Result, "ips" | "routes" | "dns">;
type Raw = Record<string, unknown>;

const ipamOf = (raw: Raw): Raw | undefined => raw.ipam as Raw | undefined;
/** Whether the IPAM plugin is our host-local, under its own name or as patchcord-host-local. */
const isHostLocal = (type: unknown): boolean => typeof type === "string" && pluginFor(type) === "host-local";

/** host-local's answer for this attachment, from a read-only look at its store. */
function previewHostLocal(raw: Raw, inv: Invocation): { ipam: Ipam; lines: string[] } {
  const config = parseHostLocalConfig(raw, inv);
  const network = String(raw.name);
  const store = new PreviewStore(config.dataDir, network);
  const ipam = addWith({ ...inv, config, network } as Parameters<typeof addWith>[0], store);
  const ips = (ipam.ips ?? []).map((i) => `${i.address}${i.gateway ? ` (gateway ${i.gateway})` : ""}`);
  return {
    ipam,
    lines: [
      `# IPAM host-local: would reserve ${ips.join(", ")} for ${inv.containerId}/${inv.ifname}`,
      `#   (by creating ${store.dir}/<address>; the store is not touched by this script)`,
    ],
  };
}

/** The IPAM step of an ADD: host-local predicted, anything else named with placeholders. */
function ipamStep(raw: Raw, inv: Invocation): { ipam: Ipam; lines: string[] } {
  const ipam = ipamOf(raw);
  const type = ipam?.type;
  if (!type) return { ipam: {}, lines: ["# no IPAM: the interface gets no address"] };
  if (isHostLocal(type)) return previewHostLocal({ ...raw }, inv);
  return {
    ipam: { ips: [{ address: "198.51.100.2/24", gateway: "198.51.100.1" }] },
    lines: [`# IPAM ${String(type)} (not patchcord's): its addresses are known only when it runs;`, "#   198.51.100.2/24 (TEST-NET-2) stands in for them below"],
  };
}

const render = (plan: Op[]): string[] => plan.map(renderShell);

async function explainAdd(type: string, raw: Raw, inv: Invocation): Promise<Explained> {
  if (type === "host-local") {
    const step = previewHostLocal(raw, inv);
    return { lines: step.lines, result: step.ipam };
  }
  const lines: string[] = [];
  if (type === "bridge") {
    const cfg = parseBridgeConfig(raw, inv);
    const existing = await findLink(undefined, cfg.bridge);
    const plan: Op[] = [];
    if (existing) lines.push(`# the bridge ${cfg.bridge} exists: it is reused`);
    else plan.push(...planCreateBridge(cfg, randomMac()));
    const bridge = existing ? bridgeState(existing, cfg.bridge) : { mac: "(new)", addresses: [], vlanFiltering: false, promisc: false };
    let gatewayLink;
    if (cfg.isGateway && cfg.vlan) {
      const { name } = vlanGatewayNames(cfg.bridge, cfg.vlan);
      const link = await findLink(undefined, name);
      if (!link) plan.push(...planVlanGateway(cfg));
      gatewayLink = { name, mac: link?.address ?? "(new)", addresses: [] as string[] };
    }
    const { ipam, lines: ipamLines } = cfg.ipamType ? ipamStep(raw, inv) : { ipam: {}, lines: [] as string[] };
    const out = bridgePlan(addInputFor(cfg, { network: String(raw.name), containerId: inv.containerId, ifname: inv.ifname, netns: inv.netns }, bridge, ipam, gatewayLink));
    lines.push(...ipamLines, ...render([...plan, ...out.plan]));
    if (cfg.enabledad) lines.push("# then: wait (up to 5 s) until IPv6 duplicate address detection has passed on the pod's interface");
    return { lines, result: out.result };
  }
  if (type === "veth-routed") {
    const cfg = parseVethRoutedConfig(raw, inv);
    const { ipam, lines: ipamLines } = ipamStep(raw, inv);
    const out = routedPlan({
      cfg,
      network: String(raw.name),
      containerId: inv.containerId,
      ifname: inv.ifname,
      netns: inv.netns,
      hostMac: randomMac(),
      containerMac: randomMac(),
      ipam,
      masqBackend: cfg.ipMasq ? masqBackend(cfg.ipMasqBackend) : undefined,
    });
    return { lines: [...ipamLines, ...render(out.plan)], result: out.result };
  }
  if (type === "macvlan") {
    const cfg = parseMacvlanConfig(raw, inv);
    const master = await resolveMaster({ master: cfg.master, mtu: cfg.mtu, inNetns: cfg.linkInContainer ? inv.netns : undefined });
    const { ipam, lines: ipamLines } = cfg.ipamType ? ipamStep(raw, inv) : { ipam: {}, lines: ["# no IPAM: L2 only, the interface just comes up"] };
    const out = macvlanPlan({ cfg, master: master.name, ifname: inv.ifname, netns: inv.netns, mac: cfg.mac ?? randomMac(), ipam });
    return { lines: [`# master: ${master.name}`, ...ipamLines, ...render(out.plan)], result: out.result };
  }
  if (type === "ipvlan") {
    const cfg = parseIpvlanConfig(raw, inv);
    if (!cfg.master && !cfg.ipamType) return { lines: ["# ipvlan chained without master or IPAM takes both from the previous plugin's result: not explained"] };
    const master = await resolveMaster({ master: cfg.master, mtu: cfg.mtu, inNetns: cfg.linkInContainer ? inv.netns : undefined });
    const { ipam, lines: ipamLines } = ipamStep(raw, inv);
    const out = ipvlanPlan({ cfg, master: master.name, masterMac: master.link.address ?? "", ifname: inv.ifname, netns: inv.netns, ipam });
    return { lines: [`# master: ${master.name}`, ...ipamLines, ...render(out.plan)], result: out.result };
  }
  return { lines: [`# ${type}: not a patchcord plugin`] };
}

/** host-local's DEL: which addresses it would release (read from its store). */
function hostLocalRelease(raw: Raw, inv: Invocation): { lines: string[]; addresses: string[] } {
  if (!isHostLocal(ipamOf(raw)?.type)) return { lines: ipamOf(raw)?.type ? [`# IPAM ${String(ipamOf(raw)?.type)} DEL runs (not patchcord's)`] : [], addresses: [] };
  const config = parseHostLocalConfig(raw, inv);
  const store = new PreviewStore(config.dataDir, String(raw.name));
  const held = store.findByOwner(inv.containerId, inv.ifname);
  const addresses = held.flatMap((ip) => {
    for (const set of config.rangeSets) {
      const range = rangeFor(set, ip);
      if (range) return [formatPrefix({ ip, bits: range.subnet.bits })];
    }
    return [];
  });
  const lines = held.length
    ? [`# IPAM host-local: would release ${addresses.join(", ")} (removing their files under ${store.dir})`]
    : [`# IPAM host-local: holds nothing for ${inv.containerId}/${inv.ifname} (DEL succeeds anyway)`];
  return { lines, addresses };
}

async function explainDel(type: string, raw: Raw, inv: Invocation): Promise<Explained> {
  if (type === "host-local") return { lines: hostLocalRelease(raw, inv).lines };
  if (type === "bridge" || type === "veth-routed") {
    const cfg = type === "bridge" ? parseBridgeConfig(raw, inv) : parseVethRoutedConfig(raw, inv);
    const release = hostLocalRelease(raw, inv);
    const lines = ["# the host end of the pod's veth (its stable name); the pair goes with it", ...render([deleteLink({ name: hostVethName(inv.containerId, inv.ifname) })])];
    if (cfg.ipMasq) {
      if (release.addresses.length) lines.push("# the pod's masquerade entries (found by their tag at run time)", renderShell(unmasqueradeOps(release.addresses)));
      else lines.push(`# the masquerade entries tagged ${String(raw.name)}/${inv.containerId}/${inv.ifname}, if any`);
    }
    if (type === "bridge") lines.push("# the bridge stays: other pods use it");
    return { lines: [...lines, ...release.lines] };
  }
  if (type === "macvlan" || type === "ipvlan") {
    return { lines: [...render([deleteLink({ netns: inv.netns, name: inv.ifname })]), ...hostLocalRelease(raw, inv).lines] };
  }
  return { lines: [`# ${type}: not a patchcord plugin`] };
}

export function explainPlugin(command: "ADD" | "DEL", type: string, raw: Raw, inv: Invocation): Promise<Explained> {
  return command === "ADD" ? explainAdd(type, raw, inv) : explainDel(type, raw, inv);
}
