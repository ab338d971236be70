import type { LinkInfo } from "../shared/kernel/query";
import { nsPrefix, shellJoin } from "../shared/kernel/ops";
import { KernelRoute, Look } from "./look";

/** What doctor read of the node's namespace once, at the start; findings read more as evidence. */
export interface NodeView {
  /** Undefined: doctor's own namespace. */
  netns?: string;
  links: LinkInfo[];
  routes: KernelRoute[];
  sysctl: Map<string, string>;
}

const SYSCTLS = "^net\\.ipv4\\.(ip_forward|conf\\.[^.]+\\.rp_filter)$|^net\\.ipv6\\.conf\\.all\\.forwarding$";

export async function readNode(look: Look, netns: string | undefined): Promise<NodeView> {
  const [links, routes, sysctl] = await Promise.all([look.links(netns), look.routes(netns), look.sysctls(netns, SYSCTLS)]);
  return { netns, links, routes, sysctl };
}

export const linkNamed = (view: { links: LinkInfo[] }, name: string | undefined): LinkInfo | undefined => view.links.find((l) => l.ifname === name);

/** A command as a person would run it in the node's namespace (a fix; doctor never runs it). */
export const onNode = (node: NodeView, argv: string[]): string => shellJoin([...nsPrefix(node.netns), ...argv]);

export const isUp = (l: LinkInfo): boolean => l.flags.includes("UP");

/** Whether a link carries `address` (without prefix). */
export const hasAddress = (l: LinkInfo | undefined, address: string): boolean => Boolean(l?.addr_info?.some((a) => a.local === address));
