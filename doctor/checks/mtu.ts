import type { LinkInfo } from "../../shared/kernel/query";
import { CheckContext, livePods } from "../context";
import type { Finding } from "../finding";
import { shown } from "../look";
import { linkNamed, NodeView, onNode } from "../node";
import { podLabel } from "../pods";
import { podRef } from "./links";

/** The node's uplink: the link of its default route (IPv4 first), when it has one. */
export function uplinkOf(node: NodeView): LinkInfo | undefined {
  const dflt = node.routes.find((r) => r.dst === "default" && r.dev && r.family === 4) ?? node.routes.find((r) => r.dst === "default" && r.dev);
  return linkNamed(node, dflt?.dev);
}

/**
 * mtu-mismatch: a pod whose interface is larger than what its packets cross (the bridge, the
 * node's uplink) sends frames that are dropped there, or fragmented: the large-transfer stalls
 * that pings of the default size never show. The pod's own interface when doctor can look inside,
 * else its veth's node end (the pair is set up with one MTU).
 */
export async function checkMtu(ctx: CheckContext): Promise<Finding[]> {
  const out: Finding[] = [];
  const { node, look } = ctx;
  const uplink = uplinkOf(node);
  for (const net of ctx.networks) {
    const bridge = net.kind === "bridge" ? linkNamed(node, net.bridge) : undefined;
    for (const p of livePods(ctx, net)) {
      const own = p.inside?.links.find((l) => l.ifname === p.ifname);
      const host = p.hostIf ? linkNamed(node, p.hostIf) : undefined;
      const mine = own ?? host;
      if (!mine) continue;
      const limits = [bridge && { what: "bridge", link: bridge }, uplink && uplink !== bridge && uplink !== host && { what: "the node's uplink", link: uplink }].filter(Boolean) as { what: string; link: LinkInfo }[];
      const over = limits.filter((l) => mine.mtu > l.link.mtu);
      if (!over.length) continue;
      const target = Math.min(...over.map((l) => l.link.mtu));
      const where = own ? `its interface ${p.ifname}` : `its veth (${host!.ifname} on the node)`;
      const evidence = [own ? shown(await look.run(p.netns, ["ip", "link", "show", p.ifname])) : shown(await look.run(node.netns, ["ip", "link", "show", host!.ifname]))];
      for (const l of over) evidence.push(shown(await look.run(node.netns, ["ip", "link", "show", l.link.ifname])));
      out.push({
        id: "mtu-mismatch",
        network: net.name,
        pod: podRef(p),
        message: `${podLabel(p)}: ${where} has MTU ${mine.mtu}, larger than ${over.map((l) => `${l.what} ${l.link.ifname} (${l.link.mtu})`).join(" and ")}: full-size packets are dropped on the way`,
        evidence,
        fix: [
          ...(own ? [onNode({ ...node, netns: p.netns }, ["ip", "link", "set", p.ifname, "mtu", String(target)])] : []),
          ...(host && host.mtu > target ? [onNode(node, ["ip", "link", "set", host.ifname, "mtu", String(target)])] : []),
          `# and set "mtu": ${target} in ${net.file}, so that new pods get it`,
        ],
      });
    }
  }
  return out;
}
