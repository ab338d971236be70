import { formatIP, formatPrefix } from "../../shared/net/ip";
import type { CheckContext, PodCondition } from "../context";
import { livePods } from "../context";
import type { Finding } from "../finding";
import { shown } from "../look";
import { isUp, linkNamed, linkNetnsid, NodeView, onNode } from "../node";
import { Pod, podLabel } from "../pods";
import { isHostVethName } from "../../shared/plugin/veth";

/** Where each pod stands (see PodCondition), from the node's links and the pod's namespace. */
export function podCondition(p: Pod, node: NodeView): PodCondition {
  if (p.netns && p.netnsState !== "present") return "stale";
  if (p.hostIf) {
    if (linkNamed(node, p.hostIf)) return "live";
    return p.netnsState === "present" ? "unplugged" : "stale";
  }
  if (p.netnsState === "present") return p.inside?.links.some((l) => l.ifname === p.ifname) ? "live" : "stale";
  return "unknown";
}

export const podRef = (p: Pod): Finding["pod"] => ({ containerId: p.containerId, ifname: p.ifname, addresses: p.addresses.map((a) => formatPrefix(a.prefix)), netns: p.netns });

/** stale-reservation, and the pods whose namespace lives on without their veth (return-route-missing). */
export async function checkPodPresence(ctx: CheckContext): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const p of ctx.pods) {
    const cond = ctx.condition.get(p);
    if (cond !== "stale" && cond !== "unplugged") continue;
    const evidence = [];
    if (p.netns) evidence.push(shown(await ctx.look.run(undefined, ["ls", "-l", p.netns])));
    if (p.hostIf) evidence.push(shown(await ctx.look.run(ctx.node.netns, ["ip", "link", "show", p.hostIf])));
    if (cond === "unplugged") {
      out.push({
        id: "return-route-missing",
        network: p.network.name,
        pod: podRef(p),
        message: `${podLabel(p)}: its namespace ${p.netns} is there but its veth (${p.hostIf} on the node) is gone, so the node has no way back to it`,
        evidence,
        fix: [`recreate the pod (kubectl delete pod ...; the runtime then runs DEL and ADD), or by hand: CNI_COMMAND=DEL then ADD for container ${p.containerId}`],
      });
      continue;
    }
    for (const file of p.storeFiles) evidence.unshift(shown(await ctx.look.run(undefined, ["cat", file])));
    const gone = [p.netns ? `its namespace ${p.netns} is gone` : "doctor knows no namespace of it", p.hostIf ? (linkNamed(ctx.node, p.hostIf) ? `its host veth ${p.hostIf} lingers` : `the node has no ${p.hostIf}`) : ""].filter(Boolean);
    const fix = [`rm -f ${[...p.storeFiles, ...(p.cacheFile ? [p.cacheFile] : [])].join(" ")}`];
    if (p.hostIf && linkNamed(ctx.node, p.hostIf)) fix.unshift(onNode(ctx.node, ["ip", "link", "del", p.hostIf]));
    out.push({
      id: "stale-reservation",
      network: p.network.name,
      pod: podRef(p),
      message: `${p.addresses.map((a) => formatIP(a.ip)).join(", ")} of ${p.network.name} ${p.addresses.length === 1 ? "is" : "are"} reserved for container ${p.containerId} (${p.ifname}), but ${gone.join(" and ")}: lost to new pods until released (a pod being set up right now looks the same: look again)`,
      evidence,
      fix,
    });
  }
  return out;
}

/**
 * orphan-veth: a node link named as our plugins name host veths (a hash of container and ifname)
 * that no reservation accounts for: a pod removed without its DEL reaching this node while
 * something still holds its namespace (which keeps the pair alive). Judged only when every veth
 * network of the conf dir has a store doctor could read, or a pod of another one would look orphaned.
 */
export async function checkOrphanVeths(ctx: CheckContext): Promise<Finding[]> {
  const vethNets = ctx.networks.filter((n) => n.kind === "bridge" || n.kind === "veth-routed");
  if (!vethNets.length || vethNets.some((n) => !n.ipam) || ctx.cannot.length) return [];
  const accounted = new Set(ctx.pods.map((p) => p.hostIf));
  const candidates = ctx.node.links.filter((l) => isHostVethName(l.ifname) && l.linkinfo?.info_kind === "veth" && !accounted.has(l.ifname) && linkNetnsid(l) !== undefined);
  if (!candidates.length) return [];
  // A peer in a namespace that still has its name is a live pod of a network this conf dir does
  // not list (a Multus attachment): only a peer whose namespace lost its name is an orphan.
  const named = await ctx.look.namedNamespaces(ctx.node.netns);
  const out: Finding[] = [];
  for (const l of candidates) {
    if (named.has(linkNetnsid(l)!)) continue;
    out.push({
      id: "orphan-veth",
      message: `${l.ifname}${l.master ? ` (a port of ${l.master})` : ""} is named as patchcord names a pod's host veth, but no reservation of ${vethNets.map((n) => n.name).join(", ")} is for it and its peer's namespace has no name any more: the pod is gone, and something still holds its namespace, which keeps the pair alive`,
      evidence: [shown(await ctx.look.run(ctx.node.netns, ["ip", "-d", "link", "show", l.ifname]))],
      fix: [onNode(ctx.node, ["ip", "link", "del", l.ifname]) + "   # its peer, in the pod's namespace, goes with it"],
    });
  }
  return out;
}

/** bridge-missing, bridge-down, bridge-port-down, host-veth-down and pod-link-down. */
export async function checkLinks(ctx: CheckContext): Promise<Finding[]> {
  const out: Finding[] = [];
  const { node, look } = ctx;
  for (const net of ctx.networks) {
    const pods = livePods(ctx, net);
    if (net.kind === "bridge" && net.bridge) {
      const br = linkNamed(node, net.bridge);
      const isBridge = br?.linkinfo?.info_kind === "bridge";
      if (!isBridge && ctx.pods.some((p) => p.network === net && ctx.condition.get(p) === "live")) {
        const fix = [onNode(node, ["ip", "link", "add", net.bridge, "type", "bridge"]), onNode(node, ["ip", "link", "set", net.bridge, "up"])];
        if (br) fix.unshift(`# ${net.bridge} exists but is a ${br.linkinfo?.info_kind ?? "plain"} link, not a bridge: rename or remove it first`);
        for (const p of pods) fix.push(onNode(node, ["ip", "link", "set", p.hostIf!, "master", net.bridge]));
        if (net.isGateway) for (const gw of gatewaysOf(pods)) fix.push(onNode(node, ["ip", "addr", "add", gw, "dev", net.bridge]));
        out.push({
          id: "bridge-missing",
          network: net.name,
          message: `network ${net.name} has ${pods.length} pod${pods.length === 1 ? "" : "s"} on bridge ${net.bridge}, but ${br ? `${net.bridge} is not a bridge` : `the node has no ${net.bridge}`}: their veths are plugged into nothing`,
          evidence: [shown(await look.run(node.netns, ["ip", "-d", "link", "show", net.bridge]))],
          fix,
        });
        continue;
      }
      if (br && isBridge && !isUp(br) && pods.length) {
        out.push({
          id: "bridge-down",
          network: net.name,
          message: `bridge ${net.bridge} of network ${net.name} is down: its ${pods.length} pod${pods.length === 1 ? "" : "s"} reach nothing through it`,
          evidence: [shown(await look.run(node.netns, ["ip", "link", "show", net.bridge]))],
          fix: [onNode(node, ["ip", "link", "set", net.bridge, "up"])],
        });
      }
    }
    for (const p of pods) {
      const host = p.hostIf ? linkNamed(node, p.hostIf) : undefined;
      if (host && net.kind === "bridge" && net.bridge && linkNamed(node, net.bridge)) {
        const detached = host.master !== net.bridge;
        if (detached || !isUp(host)) {
          out.push({
            id: "bridge-port-down",
            network: net.name,
            pod: podRef(p),
            message: `${podLabel(p)}: its port ${host.ifname} ${detached ? `is not attached to ${net.bridge}${host.master ? ` (its master is ${host.master})` : ""}` : "is down"}`,
            evidence: [shown(await look.run(node.netns, ["ip", "link", "show", host.ifname]))],
            fix: [...(detached ? [onNode(node, ["ip", "link", "set", host.ifname, "master", net.bridge])] : []), ...(isUp(host) ? [] : [onNode(node, ["ip", "link", "set", host.ifname, "up"])])],
          });
        }
      }
      if (host && net.kind === "veth-routed" && !isUp(host)) {
        const routes = p.addresses.map((a) => onNode(node, ["ip", "route", "replace", formatIP(a.ip), "dev", host.ifname]));
        out.push({
          id: "host-veth-down",
          network: net.name,
          pod: podRef(p),
          message: `${podLabel(p)}: its host veth ${host.ifname} is down, and the node's route back to the pod went with it`,
          evidence: [shown(await look.run(node.netns, ["ip", "link", "show", host.ifname]))],
          fix: [onNode(node, ["ip", "link", "set", host.ifname, "up"]), ...routes],
        });
      }
      const own = p.inside?.links.find((l) => l.ifname === p.ifname);
      if (own && !isUp(own)) {
        out.push({
          id: "pod-link-down",
          network: net.name,
          pod: podRef(p),
          message: `${podLabel(p)}: its interface ${p.ifname} is down inside the pod`,
          evidence: [shown(await look.run(p.netns, ["ip", "link", "show", p.ifname]))],
          fix: [onNode({ ...node, netns: p.netns }, ["ip", "link", "set", p.ifname, "up"]), "# (the pod's routes went down with it: recreating the pod is simpler)"],
        });
      }
    }
  }
  return out;
}

/** The gateway addresses of a bridge's pods, as the bridge carries them (gateway/prefix). */
export function gatewaysOf(pods: Pod[]): string[] {
  return [...new Set(pods.flatMap((p) => p.addresses.map((a) => `${formatIP(a.gateway)}/${a.prefix.bits}`)))];
}
