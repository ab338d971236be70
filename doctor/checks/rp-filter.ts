import { addToIP, formatIP, networkOf } from "../../shared/net/ip";
import { ROUTE_PROTOCOL } from "../../agent/routes";
import { CheckContext, livePods } from "../context";
import type { Finding } from "../finding";
import { shown } from "../look";
import { linkNamed, NodeView, onNode } from "../node";
import { podLabel, prefixOfRoute } from "../pods";
import { podRef } from "./links";

/** The kernel uses the larger of conf.all and conf.<link>: 1 is strict, 2 loose, 0 off. */
export function rpFilter(node: NodeView, link: string): number {
  const value = (name: string) => Number(node.sysctl.get(`net.ipv4.conf.${name.replace(/\./g, "/")}.rp_filter`) ?? 0);
  return Math.max(value("all"), value(link));
}

const strictFix = (node: NodeView, link: string): string[] => {
  const lines = [onNode(node, ["sysctl", "-w", `net.ipv4.conf.${link}.rp_filter=2`]) + "   # loose: the source must be routable at all"];
  if (Number(node.sysctl.get("net.ipv4.conf.all.rp_filter")) === 1) lines.push(onNode(node, ["sysctl", "-w", "net.ipv4.conf.all.rp_filter=2"]) + "   # conf.all is strict too, and the larger value wins");
  return lines;
};

/**
 * rp-filter-strict: with strict reverse-path filtering, a packet is dropped unless the route back
 * to its source leaves by the interface it came in on. Doctor asks the kernel itself, with an
 * input route lookup (`ip route get ... from SRC iif LINK`, which applies rp_filter and changes
 * nothing), for the sources it knows arrive on a link: each pod on its host veth or bridge, and
 * (with the node agent) other nodes' pods on the node's other links.
 */
export async function checkRpFilter(ctx: CheckContext): Promise<Finding[]> {
  const { node, look } = ctx;
  const out: Finding[] = [];
  const podLinks = new Set<string>();
  for (const net of ctx.networks.filter((n) => n.isGateway)) {
    for (const p of livePods(ctx, net)) {
      const iif = net.kind === "bridge" ? net.bridge : p.hostIf;
      if (!iif || !linkNamed(node, iif)) continue;
      podLinks.add(iif);
      if (rpFilter(node, iif) !== 1) continue;
      for (const a of p.addresses.filter((x) => x.ip.family === 4)) {
        const [src, gw] = [formatIP(a.ip), formatIP(a.gateway)];
        const input = await look.run(node.netns, ["ip", "route", "get", gw, "from", src, "iif", iif]);
        if (input.code === 0) continue;
        const back = await look.run(node.netns, ["ip", "route", "get", src]);
        out.push({
          id: "rp-filter-strict",
          network: net.name,
          pod: podRef(p),
          message: `${podLabel(p)}: strict rp_filter on ${iif} drops its packets, because the node's route back to ${src} does not leave by ${iif}`,
          evidence: [await look.showSysctls(node.netns, ["net.ipv4.conf.all.rp_filter", `net.ipv4.conf.${iif.replace(/\./g, "/")}.rp_filter`]), shown(input), shown(back)],
          fix: strictFix(node, iif),
        });
      }
    }
  }
  // Other nodes' pod CIDRs: the agent's routes (our protocol), or those of its state file.
  const remote = node.routes.filter((r) => r.family === 4 && r.protocol === String(ROUTE_PROTOCOL) && r.gateway && r.dev && r.dst !== "default");
  for (const link of node.links) {
    const address = link.addr_info?.find((a) => a.family === "inet" && a.scope === "global")?.local;
    if (!address || link.ifname === "lo" || podLinks.has(link.ifname) || !link.flags.includes("UP") || rpFilter(node, link.ifname) !== 1) continue;
    for (const r of remote) {
      if (r.dev === link.ifname) continue;
      const prefix = prefixOfRoute(r.dst, 4);
      if (!prefix) continue;
      const src = formatIP(addToIP(networkOf(prefix), 1n));
      const input = await look.run(node.netns, ["ip", "route", "get", address, "from", src, "iif", link.ifname]);
      if (input.code === 0) continue;
      out.push({
        id: "rp-filter-strict",
        message: `strict rp_filter on ${link.ifname} drops packets from ${r.dst} (another node's pods) arriving there, because the route back to them leaves by ${r.dev}: the routes between the nodes are asymmetric`,
        evidence: [await look.showSysctls(node.netns, ["net.ipv4.conf.all.rp_filter", `net.ipv4.conf.${link.ifname.replace(/\./g, "/")}.rp_filter`]), shown(input), shown(await look.run(node.netns, ["ip", "route", "show", r.dst]))],
        fix: strictFix(node, link.ifname),
      });
    }
  }
  return out;
}
