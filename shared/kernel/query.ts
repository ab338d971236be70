import { CniError, ErrorCode } from "../cni/errors";
import { checkIfname, checkNetns, nsPrefix } from "./ops";
import { runCommand } from "./run";
import { netlinkAvailable } from "../sys/syscalls";
import { withSession } from "./netlink/session";
import { addressesOf, linkFromMessage, mainRoutes } from "./netlink/link-info";

/** What `ip -j -d addr show` says about one link (the fields we use). */
export interface LinkInfo {
  ifindex: number;
  ifname: string;
  /** Index of the veth peer (in whichever namespace it lives). */
  link_index?: number;
  flags: string[];
  mtu: number;
  master?: string;
  operstate: string;
  address?: string;
  promiscuity?: number;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown>; info_slave_kind?: string; info_slave_data?: Record<string, unknown> };
  addr_info?: { family: "inet" | "inet6"; local: string; prefixlen: number; scope: string; tentative?: boolean; dadfailed?: boolean }[];
}

export interface RouteInfo {
  dst: string;
  gateway?: string;
  dev?: string;
  scope?: string;
  prefsrc?: string;
  metric?: number;
  flags?: string[];
}

/** Runs `ip -j ARGS` (in `netns` when given) and parses the JSON; an empty answer is []. */
export async function ipJson<T>(netns: string | undefined, args: string[]): Promise<T[]> {
  const argv = [...nsPrefix(checkNetns(netns)), "ip", "-j", ...args];
  const r = await runCommand(argv);
  if (r.code !== 0) {
    throw new CniError(ErrorCode.KernelOperationFailed, `cannot read kernel state: ${argv.join(" ")}`, r.stderr.trim());
  }
  const text = r.stdout.trim();
  return text === "" ? [] : (JSON.parse(text) as T[]);
}

/** The link over rtnetlink, in-process: one GETLINK (two with a master) and one address dump. */
function findLinkInProcess(netns: string | undefined, name: string): LinkInfo | undefined {
  return withSession(netns, (s) => {
    const m = s.link(name);
    if (!m) return undefined;
    const link = linkFromMessage(m, (index) => s.nameOf(index));
    link.addr_info = addressesOf(s.addresses(), link.ifindex);
    return link;
  });
}

/** The link named `name`, or undefined when there is none (any other failure throws). */
export async function findLink(netns: string | undefined, name: string): Promise<LinkInfo | undefined> {
  checkIfname(name);
  checkNetns(netns);
  if (netlinkAvailable()) {
    try {
      return findLinkInProcess(netns, name);
    } catch (e) {
      throw new CniError(ErrorCode.KernelOperationFailed, `cannot read kernel state of ${name}${netns ? ` in ${netns}` : ""}`, (e as Error).message);
    }
  }
  const argv = [...nsPrefix(netns), "ip", "-j", "-d", "addr", "show", "dev", name];
  const r = await runCommand(argv);
  if (r.code !== 0) {
    if (/does not exist|Cannot find device/.test(r.stderr)) return undefined;
    throw new CniError(ErrorCode.KernelOperationFailed, `cannot read kernel state: ${argv.join(" ")}`, r.stderr.trim());
  }
  const [link] = JSON.parse(r.stdout || "[]") as LinkInfo[];
  return link;
}

/** The main table over rtnetlink, in-process: one dump, plus one lookup per interface index. */
function listRoutesInProcess(netns: string | undefined, dev?: string): RouteInfo[] {
  return withSession(netns, (s) => mainRoutes(s.routes(), (index) => s.nameOf(index)).filter((r) => !dev || r.dev === dev));
}

/** Every route of both families in the main table of `netns`. */
export async function listRoutes(netns: string | undefined, dev?: string): Promise<RouteInfo[]> {
  if (dev !== undefined) checkIfname(dev);
  checkNetns(netns);
  if (netlinkAvailable()) {
    try {
      return listRoutesInProcess(netns, dev);
    } catch (e) {
      throw new CniError(ErrorCode.KernelOperationFailed, `cannot read the routes${netns ? ` of ${netns}` : ""}`, (e as Error).message);
    }
  }
  const devArgs = dev ? ["dev", dev] : [];
  const [v4, v6] = await Promise.all([ipJson<RouteInfo>(netns, ["-4", "route", "show", ...devArgs]), ipJson<RouteInfo>(netns, ["-6", "route", "show", ...devArgs])]);
  // Filtered by device, `ip -j` leaves `dev` out of each route.
  return [...v4, ...v6].map((r) => (dev && !r.dev ? { ...r, dev } : r));
}
