import { CniError, ErrorCode } from "../cni/errors";
import { absolutePathProblem, interfaceNameProblem } from "../cni/names";
import { formatIP, formatPrefix, parseIP, parsePrefix } from "../net/ip";

/**
 * Kernel changes as data. A plan is a list of operations; `apply.ts` runs it with as few processes
 * as possible and `renderShell` prints each one as the command a person would type.
 *
 * `netns` undefined means the namespace the plugin runs in (the host); otherwise a netns path.
 * Every builder validates its values, so no config value can add words or lines to a command.
 */
export type Op =
  | { tool: "ip"; netns?: string; argv: string[]; undo?: string[] }
  | { tool: "bridge"; netns?: string; argv: string[]; undo?: string[] }
  | { tool: "sysctl"; netns?: string; key: string; value: string; optional?: boolean }
  | { tool: "nft"; netns?: string; script: string; undo?: string; setup?: string }
  /** An `iptables-restore --noflush` (family 4) or `ip6tables-restore --noflush` (6) transaction. */
  | { tool: "iptables"; family: 4 | 6; netns?: string; input: string; undo?: string };

export type Plan = Op[];

function reject(what: string, value: unknown, problem: string): never {
  throw new CniError(ErrorCode.InvalidNetworkConfig, `${what} ${JSON.stringify(value)} ${problem}`);
}

export function checkIfname(name: string, what = "interface name"): string {
  const problem = interfaceNameProblem(name);
  if (problem) reject(what, name, problem);
  return name;
}

export function checkNetns(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  const problem = absolutePathProblem(path);
  if (problem) reject("netns path", path, problem);
  if (/[\s#"'\\]/.test(path)) reject("netns path", path, "contains whitespace, # or a quote or backslash");
  return path;
}

/** Canonical `ip/bits` text; rejects anything that is not an address with a prefix. */
export function checkPrefix(text: string, what = "address"): string {
  const p = parsePrefix(text);
  if (!p) reject(what, text, "is not an address with prefix length");
  return formatPrefix(p);
}

export function checkIP(text: string, what = "address"): string {
  const ip = parseIP(text);
  if (!ip) reject(what, text, "is not an IP address");
  return formatIP(ip);
}

export function checkMac(mac: string): string {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac)) reject("MAC address", mac, "is not six hex bytes separated by :");
  return mac.toLowerCase();
}

export function checkMtu(mtu: number): string {
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) reject("MTU", mtu, "is not an integer from 68 to 65535");
  return String(mtu);
}

const ip = (netns: string | undefined, argv: string[], undo?: string[]): Op => ({ tool: "ip", netns: checkNetns(netns), argv, undo });

export interface VethOptions {
  /** Host end, created in the plugin's namespace. */
  name: string;
  /** Container end. */
  peer: string;
  /** Where the container end is created (a netns path); the host end stays here. */
  peerNetns?: string;
  mtu?: number;
  mac?: string;
  peerMac?: string;
  /** Bridge the host end joins as it is created. */
  master?: string;
}

/** `ip link add NAME type veth peer name PEER netns PATH`: both ends in one step, no rename dance. */
export function addVeth(o: VethOptions): Op {
  const argv = ["link", "add", checkIfname(o.name)];
  if (o.mtu !== undefined) argv.push("mtu", checkMtu(o.mtu));
  if (o.mac !== undefined) argv.push("address", checkMac(o.mac));
  if (o.master !== undefined) argv.push("master", checkIfname(o.master, "master"));
  argv.push("type", "veth", "peer", "name", checkIfname(o.peer));
  if (o.mtu !== undefined) argv.push("mtu", checkMtu(o.mtu));
  if (o.peerMac !== undefined) argv.push("address", checkMac(o.peerMac));
  if (o.peerNetns !== undefined) argv.push("netns", checkNetns(o.peerNetns) as string);
  return ip(undefined, argv, ["link", "del", o.name]);
}

export interface LinkSetOptions {
  netns?: string;
  name: string;
  up?: boolean;
  mtu?: number;
  mac?: string;
  /** Bridge to enslave to; `null` releases it (`nomaster`). */
  master?: string | null;
}

export function setLink(o: LinkSetOptions): Op {
  const argv = ["link", "set", "dev", checkIfname(o.name)];
  if (o.mtu !== undefined) argv.push("mtu", checkMtu(o.mtu));
  if (o.mac !== undefined) argv.push("address", checkMac(o.mac));
  if (o.master === null) argv.push("nomaster");
  else if (o.master !== undefined) argv.push("master", checkIfname(o.master, "master"));
  if (o.up !== undefined) argv.push(o.up ? "up" : "down");
  return ip(o.netns, argv);
}

export function deleteLink(o: { netns?: string; name: string }): Op {
  return ip(o.netns, ["link", "del", "dev", checkIfname(o.name)]);
}

export function addAddress(o: { netns?: string; dev: string; address: string }): Op {
  const dev = checkIfname(o.dev);
  const address = checkPrefix(o.address);
  return ip(o.netns, ["addr", "add", address, "dev", dev], ["addr", "del", address, "dev", dev]);
}

export interface RouteOptions {
  netns?: string;
  /** Destination CIDR, or `default`. */
  dst: string;
  gw?: string;
  dev?: string;
  /** `link` for an on-link route to a gateway (the route that makes the gateway reachable). */
  scope?: "link" | "host" | "global";
  src?: string;
  metric?: number;
  table?: number;
}

/**
 * `default` alone means IPv4 to `ip`, and `-6` cannot be given inside `ip -batch`: an IPv6
 * default route is written `::/0`.
 */
function routeDst(o: RouteOptions): string {
  if (o.dst !== "default") return checkPrefix(o.dst, "route destination");
  return o.gw !== undefined && parseIP(o.gw)?.family === 6 ? "::/0" : "default";
}

function routeArgv(o: RouteOptions): string[] {
  const argv = [routeDst(o)];
  if (o.gw !== undefined) argv.push("via", checkIP(o.gw, "gateway"));
  if (o.dev !== undefined) argv.push("dev", checkIfname(o.dev));
  if (o.scope !== undefined) argv.push("scope", o.scope);
  if (o.src !== undefined) argv.push("src", checkIP(o.src, "source address"));
  if (o.metric !== undefined) argv.push("metric", String(Math.trunc(o.metric)));
  if (o.table !== undefined) argv.push("table", String(Math.trunc(o.table)));
  return argv;
}

export function addRoute(o: RouteOptions): Op {
  const argv = routeArgv(o);
  return ip(o.netns, ["route", "add", ...argv], ["route", "del", ...argv]);
}

export function deleteRoute(o: RouteOptions): Op {
  return ip(o.netns, ["route", "del", ...routeArgv(o)]);
}

/** `bridge vlan add|del dev PORT vid N [pvid] [untagged]`: VLANs of a bridge port. */
export function bridgeVlan(o: { netns?: string; action: "add" | "del"; dev: string; vid: number; pvid?: boolean; untagged?: boolean }): Op {
  if (!Number.isInteger(o.vid) || o.vid < 1 || o.vid > 4094) reject("VLAN id", o.vid, "is not an integer from 1 to 4094");
  const argv = ["vlan", o.action, "dev", checkIfname(o.dev), "vid", String(o.vid)];
  if (o.pvid) argv.push("pvid");
  if (o.untagged) argv.push("untagged");
  return { tool: "bridge", netns: checkNetns(o.netns), argv };
}

/** A sysctl under /proc/sys/net, e.g. `net.ipv4.ip_forward` or `net.ipv6.conf.eth0.accept_dad`. */
export function setSysctl(o: { netns?: string; key: string; value: string | number; optional?: boolean }): Op {
  const key = o.key;
  // Slash form (`net/ipv4/conf/eth0.100/forwarding`) lets interface names contain dots.
  const parts = key.includes("/") ? key.split("/") : key.split(".");
  if (parts[0] !== "net" || parts.some((p) => p === "" || p === "." || p === ".." || !/^[A-Za-z0-9_.\-@+]+$/.test(p))) {
    reject("sysctl key", key, "must be a net.* key of plain words");
  }
  const value = String(o.value);
  if (!/^-?[0-9]+$/.test(value)) reject("sysctl value", value, "must be an integer");
  return { tool: "sysctl", netns: checkNetns(o.netns), key, value, ...(o.optional ? { optional: true } : {}) };
}

/**
 * An nft script run as one transaction (`nft -f -`); callers build it from validated values.
 * `setup` (tables, sets, chains) is sent in front of the script only when the script alone fails:
 * declaring them costs nft several times more than the script, and they exist after the first run.
 */
export function nftScript(o: { netns?: string; script: string; undo?: string; setup?: string }): Op {
  return { tool: "nft", netns: checkNetns(o.netns), script: o.script, undo: o.undo, ...(o.setup ? { setup: o.setup } : {}) };
}

/** Where a sysctl key lives under /proc (dotted or slash form). */
export const sysctlPath = (key: string): string => "/proc/sys/" + (key.includes("/") ? key : key.replace(/\./g, "/"));

/** The prefix that makes a command run in `netns`: exactly what `apply` executes. */
export const nsPrefix = (netns: string | undefined): string[] => (netns ? ["nsenter", `--net=${netns}`] : []);

const quote = (word: string): string => (/^[A-Za-z0-9_@%+=:,./\-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

export const shellJoin = (argv: string[]): string => argv.map(quote).join(" ");

/** One operation as the shell command a person would type for it. */
export function renderShell(op: Op): string {
  const pre = nsPrefix(op.netns);
  switch (op.tool) {
    case "ip":
    case "bridge":
      return shellJoin([...pre, op.tool, ...op.argv]);
    case "sysctl":
      return shellJoin([...pre, "sysctl", "-w", `${op.key}=${op.value}`]);
    case "iptables":
      return `${shellJoin([...pre, op.family === 4 ? "iptables-restore" : "ip6tables-restore", "--noflush"])} <<'EOF'\n${op.input.trimEnd()}\nEOF`;
    case "nft":
      // With its setup: the complete, idempotent transaction a person would run on a fresh node.
      return `${shellJoin([...pre, "nft", "-f", "-"])} <<'EOF'\n${((op.setup ?? "") + op.script).trimEnd()}\nEOF`;
  }
}

/** The plan as a commented shell script. */
export function renderScript(plan: Plan, title?: string): string {
  const lines = title ? [`# ${title}`] : [];
  for (const op of plan) lines.push(renderShell(op));
  return lines.join("\n") + "\n";
}
