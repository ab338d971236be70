import { CniError, ErrorCode } from "../cni/errors";
import type { IPConfig, Result } from "../cni/result";
import { findLink, LinkInfo, listRoutes, RouteInfo } from "../kernel/query";
import { formatIP, formatPrefix, networkOf, parseIP, parsePrefix } from "../net/ip";
import { distinctRoutes } from "./configure";

/** CHECK helpers shared by the veth plugins: compare prevResult with the kernel. */
export const checkFailed = (msg: string): never => {
  throw new CniError(ErrorCode.CheckFailed, msg);
};

/** `ip route` prints `default` and host routes without a prefix; compare in one canonical form. */
export function routeDst(r: RouteInfo): string {
  if (r.dst === "default") return "default";
  const p = parsePrefix(r.dst.includes("/") ? r.dst : `${r.dst}/${r.dst.includes(":") ? 128 : 32}`);
  return p ? formatPrefix({ ip: networkOf(p), bits: p.bits }) : r.dst;
}

const wantedDst = (dst: string): string => {
  const p = parsePrefix(dst)!;
  return p.bits === 0 ? "default" : formatPrefix({ ip: networkOf(p), bits: p.bits });
};

const sameIP = (a?: string, b?: string) => a !== undefined && b !== undefined && formatIP(parseIP(a)!) === formatIP(parseIP(b)!);

/** Whether `routes` holds a route to `dst` (via `gw` when given, through `dev` when given). */
export const hasRoute = (routes: RouteInfo[], dst: string, gw?: string, dev?: string): boolean =>
  routes.some((k) => routeDst(k) === wantedDst(dst) && (!gw || sameIP(k.gateway, gw)) && (!dev || k.dev === dev));

export interface PodState {
  pod: LinkInfo;
  host: LinkInfo;
  /** prevResult's IPs on the pod interface. */
  ips: IPConfig[];
}

/**
 * The pod's interface against prevResult: it is in prevResult with this sandbox, exists, is a
 * veth with the MAC prevResult gives (a later plugin may have changed it there), carries its
 * addresses and routes; and `hostVeth` is its peer.
 */
export async function checkPodVeth(prev: Result, netns: string, ifname: string, hostVeth: string): Promise<PodState> {
  const ifaces = prev.interfaces ?? [];
  const index = ifaces.findIndex((i) => i.name === ifname && i.sandbox === netns);
  if (index < 0) checkFailed(`prevResult has no interface ${ifname} in sandbox ${netns}`);
  const [pod, host] = await Promise.all([findLink(netns, ifname), findLink(undefined, hostVeth)]);
  if (!pod) return checkFailed(`interface ${ifname} was not found in ${netns}`);
  if (pod.linkinfo?.info_kind !== "veth") checkFailed(`interface ${ifname} is a ${pod.linkinfo?.info_kind ?? "device"}, not a veth`);
  const wantMac = ifaces[index].mac;
  if (wantMac && pod.address?.toLowerCase() !== wantMac.toLowerCase()) checkFailed(`interface ${ifname} has MAC ${pod.address}, prevResult says ${wantMac}`);
  if (!host) return checkFailed(`host veth ${hostVeth} of ${ifname} was not found`);
  if (host.link_index !== pod.ifindex || pod.link_index !== host.ifindex) checkFailed(`host veth ${hostVeth} is not the peer of ${ifname}`);

  const present = new Set((pod.addr_info ?? []).map((a) => `${formatIP(parseIP(a.local)!)}/${a.prefixlen}`));
  const ips = (prev.ips ?? []).filter((ip) => ip.interface === undefined || ip.interface === index);
  for (const ip of ips) if (!present.has(formatPrefix(parsePrefix(ip.address)!))) checkFailed(`address ${ip.address} is missing on ${ifname}`);

  const routes = await listRoutes(netns);
  for (const r of distinctRoutes(prev.routes ?? [])) {
    if (!hasRoute(routes, r.dst, r.gw)) checkFailed(`route to ${r.dst}${r.gw ? ` via ${r.gw}` : ""} is missing in ${netns}`);
  }
  return { pod, host, ips };
}

/**
 * A pod's macvlan or ipvlan interface against prevResult: present with this sandbox, of `kind`
 * in `mode`, with prevResult's MAC, addresses and routes. Returns the link for further checks.
 */
export async function checkPodSublink(prev: Result, netns: string, ifname: string, kind: string, mode: string): Promise<LinkInfo> {
  const ifaces = prev.interfaces ?? [];
  const index = ifaces.findIndex((i) => i.name === ifname && i.sandbox === netns);
  if (index < 0) checkFailed(`prevResult has no interface ${ifname} in sandbox ${netns}`);
  const link = await findLink(netns, ifname);
  if (!link) return checkFailed(`interface ${ifname} was not found in ${netns}`);
  if (link.linkinfo?.info_kind !== kind) checkFailed(`interface ${ifname} is a ${link.linkinfo?.info_kind ?? "device"}, not a ${kind}`);
  if (link.linkinfo?.info_data?.mode !== mode) checkFailed(`interface ${ifname} is in ${kind} mode ${String(link.linkinfo?.info_data?.mode)}, the config says ${mode}`);
  const wantMac = ifaces[index].mac;
  if (wantMac && link.address?.toLowerCase() !== wantMac.toLowerCase()) checkFailed(`interface ${ifname} has MAC ${link.address}, prevResult says ${wantMac}`);
  const present = new Set((link.addr_info ?? []).map((a) => `${formatIP(parseIP(a.local)!)}/${a.prefixlen}`));
  for (const ip of (prev.ips ?? []).filter((i) => i.interface === undefined || i.interface === index)) {
    if (!present.has(formatPrefix(parsePrefix(ip.address)!))) checkFailed(`address ${ip.address} is missing on ${ifname}`);
  }
  const routes = await listRoutes(netns);
  for (const r of distinctRoutes(prev.routes ?? [])) if (!hasRoute(routes, r.dst, r.gw)) checkFailed(`route to ${r.dst}${r.gw ? ` via ${r.gw}` : ""} is missing in ${netns}`);
  return link;
}
