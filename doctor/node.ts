import type { LinkInfo } from "../shared/kernel/query";
import { nsPrefix, shellJoin } from "../shared/kernel/ops";
import { CannotLook } from "./finding";
import { KernelRoute, Look } from "./look";

/** What doctor read of the node's namespace once, at the start; findings read more as evidence. */
export interface NodeView {
  /** Undefined: doctor's own namespace. */
  netns?: string;
  links: LinkInfo[];
  routes: KernelRoute[];
  sysctl: Map<string, string>;
}

/** Forwarding for both families, and reverse-path filtering for every link and `all`. */
const sysctlKeys = (links: LinkInfo[]): string[] => [
  "net.ipv4.ip_forward",
  "net.ipv6.conf.all.forwarding",
  "net.ipv4.conf.all.rp_filter",
  ...links.map((l) => `net.ipv4.conf.${l.ifname.replace(/\./g, "/")}.rp_filter`),
];

export async function readNode(look: Look, netns: string | undefined): Promise<NodeView> {
  const [links, routes] = await Promise.all([look.links(netns), look.routes(netns)]);
  const { values, looked } = await look.sysctls(netns, sysctlKeys(links));
  if (!values.has("net.ipv4.ip_forward")) throw new CannotLook(`${looked.command}: ${looked.stderr.trim() || "no values"}`);
  return { netns, links, routes, sysctl: values };
}

export const linkNamed = (view: { links: LinkInfo[] }, name: string | undefined): LinkInfo | undefined => view.links.find((l) => l.ifname === name);

/** A command as a person would run it in the node's namespace (a fix; doctor never runs it). */
export const onNode = (node: NodeView, argv: string[]): string => shellJoin([...nsPrefix(node.netns), ...argv]);

/** The namespace id of a veth's peer, as this namespace sees it (undefined: the peer is here). */
export const linkNetnsid = (l: LinkInfo): number | undefined => (l as LinkInfo & { link_netnsid?: number }).link_netnsid;

export const isUp = (l: LinkInfo): boolean => l.flags.includes("UP");

/** Whether a link carries `address` (without prefix). */
export const hasAddress = (l: LinkInfo | undefined, address: string): boolean => Boolean(l?.addr_info?.some((a) => a.local === address));
