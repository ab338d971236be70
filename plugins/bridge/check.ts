import { CniError, ErrorCode } from "../../shared/cni/errors";
import type { Request } from "../../shared/cni/skeleton";
import { findLink, listRoutes, RouteInfo } from "../../shared/kernel/query";
import { runCommand } from "../../shared/kernel/run";
import { attachmentTag, listMasqueraded } from "../../shared/netfilter/masquerade";
import { listSpoofchecked } from "../../shared/netfilter/spoofcheck";
import { formatIP, formatPrefix, networkOf, parseIP, parsePrefix } from "../../shared/net/ip";
import type { BridgeConfig } from "./config";
import { hasIptablesMasquerade, masqBackend } from "./masq";

const fail = (msg: string): never => {
  throw new CniError(ErrorCode.CheckFailed, msg);
};

/** `ip route` prints `default` and host routes without a prefix; compare in one canonical form. */
function routeDst(r: RouteInfo): string {
  if (r.dst === "default") return "default";
  const p = parsePrefix(r.dst.includes("/") ? r.dst : `${r.dst}/${r.dst.includes(":") ? 128 : 32}`);
  return p ? formatPrefix({ ip: networkOf(p), bits: p.bits }) : r.dst;
}

const wantedDst = (dst: string): string => {
  const p = parsePrefix(dst)!;
  return p.bits === 0 ? "default" : formatPrefix({ ip: networkOf(p), bits: p.bits });
};

/**
 * Compares prevResult with the kernel: the pod's interface (name, sandbox, MAC, addresses,
 * routes), its host veth (exists, is its peer, is a port of the bridge), the bridge, and the
 * masquerade elements. Later plugins may add things; only what is missing or different fails.
 */
export async function checkAttachment(req: Request<BridgeConfig>, hostVeth: string): Promise<void> {
  const cfg = req.config;
  const prev = req.prevResult!;
  const ifaces = prev.interfaces ?? [];
  const index = ifaces.findIndex((i) => i.name === req.ifname && i.sandbox === req.netns);
  if (index < 0) fail(`prevResult has no interface ${req.ifname} in sandbox ${req.netns}`);

  const [pod, host, bridge] = await Promise.all([findLink(req.netns, req.ifname), findLink(undefined, hostVeth), findLink(undefined, cfg.bridge)]);
  if (!bridge || bridge.linkinfo?.info_kind !== "bridge") fail(`bridge ${cfg.bridge} was not found`);
  if (!pod) fail(`interface ${req.ifname} was not found in ${req.netns}`);
  if (pod!.linkinfo?.info_kind !== "veth") fail(`interface ${req.ifname} is a ${pod!.linkinfo?.info_kind ?? "device"}, not a veth`);
  const wantMac = ifaces[index].mac;
  if (wantMac && pod!.address?.toLowerCase() !== wantMac.toLowerCase()) fail(`interface ${req.ifname} has MAC ${pod!.address}, prevResult says ${wantMac}`);
  if (!host) fail(`host veth ${hostVeth} of ${req.ifname} was not found`);
  if (host!.master !== cfg.bridge) fail(`host veth ${hostVeth} is not a port of ${cfg.bridge}`);
  if (host!.link_index !== pod!.ifindex || pod!.link_index !== host!.ifindex) fail(`host veth ${hostVeth} is not the peer of ${req.ifname}`);
  if (cfg.promiscMode && !(bridge!.promiscuity ?? 0)) fail(`bridge ${cfg.bridge} is not in promiscuous mode`);

  const present = new Set((pod!.addr_info ?? []).map((a) => `${formatIP(parseIP(a.local)!)}/${a.prefixlen}`));
  const ours = (prev.ips ?? []).filter((ip) => ip.interface === undefined || ip.interface === index);
  for (const ip of ours) {
    const p = parsePrefix(ip.address)!;
    if (!present.has(formatPrefix(p))) fail(`address ${ip.address} is missing on ${req.ifname}`);
  }

  const routes = await listRoutes(req.netns);
  for (const r of prev.routes ?? []) {
    const dst = wantedDst(r.dst);
    const found = routes.some((k) => routeDst(k) === dst && (!r.gw || (k.gateway && formatIP(parseIP(k.gateway)!) === formatIP(parseIP(r.gw)!))));
    if (!found) fail(`route to ${r.dst}${r.gw ? ` via ${r.gw}` : ""} is missing in ${req.netns}`);
  }

  if (cfg.macspoofchk && !((await listSpoofchecked(runCommand)).get(hostVeth) ?? []).length) fail(`MAC spoof check for ${hostVeth} is missing`);
  if (cfg.ipMasq && ours.length) {
    const tag = attachmentTag({ network: req.network, containerId: req.containerId, ifname: req.ifname });
    if (masqBackend(cfg) === "iptables") {
      if (!(await hasIptablesMasquerade(tag))) fail(`iptables masquerade chain for ${req.ifname} is missing`);
    } else {
      const tagged = (await listMasqueraded(runCommand)).get(tag) ?? [];
      for (const ip of ours) if (!tagged.includes(ip.address)) fail(`masquerade for ${ip.address} is missing`);
    }
  }
}
