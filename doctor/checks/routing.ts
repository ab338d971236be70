import { contains, formatIP, parseIP } from "../../shared/net/ip";
import { agentStatePath, readAgentState } from "../../agent/state-file";
import { canonicalDst, ROUTE_PROTOCOL } from "../../agent/routes";
import { CheckContext, livePods } from "../context";
import type { Finding } from "../finding";
import { shown } from "../look";
import { hasAddress, isUp, linkNamed, onNode } from "../node";
import { podLabel, prefixOfRoute } from "../pods";
import { gatewaysOf, podRef } from "./links";

const FORWARDING = { 4: "net.ipv4.ip_forward", 6: "net.ipv6.conf.all.forwarding" } as const;

/** ip-forward-off: a routed network, or a bridge whose node is the gateway, with forwarding off. */
export async function checkForwarding(ctx: CheckContext): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const family of [4, 6] as const) {
    const key = FORWARDING[family];
    const users = ctx.networks.filter((n) => n.isGateway && livePods(ctx, n).some((p) => p.addresses.some((a) => a.ip.family === family)));
    if (!users.length || ctx.node.sysctl.get(key) === "1") continue;
    out.push({
      id: "ip-forward-off",
      network: users.map((n) => n.name).join(", "),
      message: `${key} is ${ctx.node.sysctl.get(key) ?? "unreadable"}, but the node routes for the IPv${family} pods of ${users.map((n) => `${n.name} (${n.kind})`).join(", ")}: their packets reach the node and go no further`,
      evidence: [await ctx.look.showSysctls(ctx.node.netns, [key])],
      fix: [onNode(ctx.node, ["sysctl", "-w", `${key}=1`])],
    });
  }
  return out;
}

/** return-route-missing (veth-routed): where the node sends a packet for the pod must be the pod's veth. */
export async function checkReturnRoutes(ctx: CheckContext): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const p of ctx.pods.filter((x) => x.network.kind === "veth-routed" && ctx.condition.get(x) === "live")) {
    const host = linkNamed(ctx.node, p.hostIf);
    if (!host || !isUp(host)) continue; // host-veth-down says it
    for (const a of p.addresses) {
      const ip = formatIP(a.ip);
      const got = await ctx.look.run(ctx.node.netns, ["ip", "route", "get", ip]);
      const dev = /\bdev (\S+)/.exec(got.stdout)?.[1];
      if (got.code === 0 && dev === host.ifname) continue;
      out.push({
        id: "return-route-missing",
        network: p.network.name,
        pod: podRef(p),
        message: `${podLabel(p)}: the node has no route back to ${ip} through its veth ${host.ifname} (${dev ? `it would send it out of ${dev}` : "it has no route to it at all"}): requests arrive, replies are lost`,
        evidence: [shown(got), shown(await ctx.look.run(ctx.node.netns, ["ip", "route", "show", "dev", host.ifname]))],
        fix: [onNode(ctx.node, ["ip", "route", "replace", `${ip}/${a.ip.family === 4 ? 32 : 128}`, "dev", host.ifname])],
      });
    }
  }
  return out;
}

/**
 * gateway-unreachable: on the node's side, the gateway address must be on the pod's link (the
 * host veth of a routed pod, the bridge of a gateway bridge); in the pod, its default route's
 * gateway must be reachable on the link the route uses.
 */
export async function checkGateways(ctx: CheckContext): Promise<Finding[]> {
  const out: Finding[] = [];
  const { node, look } = ctx;
  for (const net of ctx.networks) {
    const pods = livePods(ctx, net);
    if (net.kind === "bridge" && net.isGateway && net.bridge && linkNamed(node, net.bridge)) {
      const br = linkNamed(node, net.bridge)!;
      for (const gw of gatewaysOf(pods)) {
        const address = gw.split("/")[0];
        if (hasAddress(br, address)) continue;
        const affected = pods.filter((p) => p.addresses.some((a) => formatIP(a.gateway) === address));
        out.push({
          id: "gateway-unreachable",
          network: net.name,
          message: `gateway ${address} of ${net.name} is not on bridge ${net.bridge} (isGateway): ${affected.map(podLabel).join("; ")} ${affected.length === 1 ? "has" : "have"} no gateway`,
          evidence: [shown(await look.run(node.netns, ["ip", "addr", "show", "dev", net.bridge]))],
          fix: [onNode(node, ["ip", "addr", "add", gw, "dev", net.bridge])],
        });
      }
    }
    if (net.kind === "veth-routed") {
      for (const p of pods) {
        const host = linkNamed(node, p.hostIf);
        if (!host || !isUp(host)) continue;
        const missing = p.addresses.filter((a) => !hasAddress(host, formatIP(a.gateway)));
        if (!missing.length) continue;
        out.push({
          id: "gateway-unreachable",
          network: net.name,
          pod: podRef(p),
          message: `${podLabel(p)}: its gateway ${missing.map((a) => formatIP(a.gateway)).join(", ")} is not on its host veth ${host.ifname}, the node's side of its link`,
          evidence: [shown(await look.run(node.netns, ["ip", "addr", "show", "dev", host.ifname]))],
          fix: missing.map((a) => onNode(node, ["ip", "addr", "replace", `${formatIP(a.gateway)}/${a.ip.family === 4 ? 32 : 128}`, "dev", host.ifname, ...(a.ip.family === 6 ? ["nodad"] : [])])),
        });
      }
    }
    for (const p of pods) {
      if (!p.inside) continue;
      for (const family of [...new Set(p.addresses.map((a) => a.ip.family))]) {
        const routes = p.inside.routes.filter((r) => r.family === family);
        const dflt = routes.find((r) => r.dst === "default" && r.gateway && r.dev === p.ifname);
        const gw = dflt?.gateway ? parseIP(dflt.gateway) : undefined;
        if (!dflt || !gw) continue;
        const onLink = dflt.flags?.includes("onlink") || routes.some((r) => !r.gateway && r.dev === dflt.dev && r.dst !== "default" && contains(prefixOfRoute(r.dst, family)!, gw));
        if (onLink) continue;
        out.push({
          id: "gateway-unreachable",
          network: net.name,
          pod: podRef(p),
          message: `${podLabel(p)}: its default route goes via ${dflt.gateway}, which no route of the pod puts on ${dflt.dev}: the pod cannot reach its gateway`,
          evidence: [shown(await look.run(p.netns, ["ip", `-${family}`, "route", "show"]))],
          fix: [onNode({ ...node, netns: p.netns }, ["ip", "route", "add", `${dflt.gateway}/${family === 4 ? 32 : 128}`, "dev", dflt.dev!, "scope", "link"])],
        });
      }
    }
  }
  return out;
}

/** node-route-missing: with the agent's conflist, each route its state file wants must be there. */
export async function checkNodeRoutes(ctx: CheckContext): Promise<Finding[]> {
  const agentNet = ctx.networks.find((n) => n.name === "patchcord" && n.ipam);
  if (!agentNet) return [];
  const path = ctx.agentState ?? agentStatePath(agentNet.ipam!.dataDir);
  const { state, problem } = readAgentState(path);
  if (!state) {
    ctx.notes.push(`the node agent's state is not readable, so the routes to other nodes were not checked: ${problem}`);
    return [];
  }
  const out: Finding[] = [];
  for (const want of state.routes) {
    const family = want.dst.includes(":") ? 6 : 4;
    const have = ctx.node.routes.find((r) => r.family === family && canonicalDst(r.dst, family) === want.dst && (!r.type || r.type === "unicast"));
    if (have && have.gateway && formatIP(parseIP(have.gateway)!) === want.via) continue;
    out.push({
      id: "node-route-missing",
      network: agentNet.name,
      message: `node ${want.node}'s pods (${want.dst}) have no route here${have ? ` via ${want.via} (the node's route goes ${have.gateway ? `via ${have.gateway}` : `out of ${have.dev}`})` : ""}: the agent wants ${want.dst} via ${want.via}`,
      evidence: [shown(await ctx.look.run(ctx.node.netns, ["ip", "route", "show", want.dst])), shown(await ctx.look.run(undefined, ["cat", path]))],
      fix: [onNode(ctx.node, ["ip", "route", "replace", want.dst, "via", want.via, "proto", String(ROUTE_PROTOCOL)]), "# the agent re-adds it at its next resync; if it does not, its log says why (kubectl logs -n kube-system ds/patchcord)"],
    });
  }
  return out;
}
