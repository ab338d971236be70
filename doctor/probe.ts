import { realpathSync } from "node:fs";
import type { LinkInfo } from "../shared/kernel/query";
import { CannotLook, Evidence, Finding } from "./finding";
import { Look, Looked, shown } from "./look";
import { linkNetnsid, NodeView, onNode } from "./node";

/**
 * `doctor --probe POD_A POD_B`: the article's tcpdump hunt, with counters instead of captures.
 * Three pings from pod A to pod B's address, the counters along the way read before and after
 * (ICMP and IP counters of pod A, the node and pod B; packets of each interface on the path), and
 * the verdict names the first hop where the echo requests or the replies stopped. The ping is the
 * only thing doctor does that is not a read, and it goes only from pod A to pod B.
 *
 * Both pods' namespaces must be open to doctor (on one machine). When the pods are on two nodes,
 * `node` is the one doctor runs on: the hops of the other node are not seen, and the verdict says
 * that the packets died beyond this node when they did. On the answering pod's node (pod B's) the
 * verdict is the most specific: a reply that dies there for want of a route back is counted there.
 */
export interface ProbeReport {
  /** Pod A's and pod B's namespaces. */
  from: string;
  to: string;
  /** Pod B's address that pod A pinged. */
  address: string;
  /** Echo requests ping sent and replies it got. */
  sent: number;
  received: number;
  /**
   * Each counter's change during the ping, in path order: pod A, the node, pod B (the request),
   * then back (the reply). The node's namespace-wide counters (forwarding, no route, rp_filter)
   * count both ways and are listed once, on the way out. Drop counters are listed when they moved.
   */
  hops: { where: string; counter: string; delta: number }[];
  verdict: string;
}

export const PING_COUNT = 3;
const TABLE_COMMAND = "counters before and after (cat /proc/net/snmp; cat /proc/net/netstat; ip -s -j link show)";
const TABLE_COMMAND_6 = "counters before and after (cat /proc/net/snmp6; cat /proc/net/netstat; ip -s -j link show)";

type Family = 4 | 6;
type Place = "A" | "N" | "B";

/** The kernel's names of the counters probe reads, per family (IPv4: "Table Name" of /proc/net/snmp and netstat; IPv6: /proc/net/snmp6). */
const NAMES = {
  4: {
    outEchos: "Icmp OutEchos",
    inEchos: "Icmp InEchos",
    outReps: "Icmp OutEchoReps",
    inReps: "Icmp InEchoReps",
    forwarded: "Ip ForwDatagrams",
    inNoRoutes: "IpExt InNoRoutes",
    outNoRoutes: "Ip OutNoRoutes",
    addrErrors: "Ip InAddrErrors",
    rpFilter: "TcpExt IPReversePathFilter",
  },
  6: {
    outEchos: "Icmp6OutEchos",
    inEchos: "Icmp6InEchos",
    outReps: "Icmp6OutEchoReplies",
    inReps: "Icmp6InEchoReplies",
    forwarded: "Ip6OutForwDatagrams",
    inNoRoutes: "Ip6InNoRoutes",
    outNoRoutes: "Ip6OutNoRoutes",
    addrErrors: "Ip6InAddrErrors",
    rpFilter: undefined,
  },
} as const;

const FORWARD_SYSCTL = { 4: "net.ipv4.ip_forward", 6: "net.ipv6.conf.all.forwarding" } as const;
const ECHO_IGNORE_SYSCTL = { 4: "net.ipv4.icmp_echo_ignore_all", 6: "net.ipv6.icmp.echo_ignore_all" } as const;

/** The short name of a counter, as a message says it ("OutEchoReps", "IPReversePathFilter"). */
const short = (counter: string): string => counter.split(" ").pop()!;

/** Tables of `/proc/net/snmp` and `/proc/net/netstat`: a line of names, then a line of values, each "Table: ...". */
export function parseTables(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const lines = text.split("\n");
  for (let i = 0; i + 1 < lines.length; i++) {
    const [names, values] = [lines[i].split(/\s+/), lines[i + 1].split(/\s+/)];
    if (!/^\w+:$/.test(names[0]) || names[0] !== values[0] || !/^-?\d+$/.test(values[1] ?? "")) continue;
    const table = names[0].slice(0, -1);
    for (let k = 1; k < names.length && k < values.length; k++) out.set(`${table} ${names[k]}`, Number(values[k]));
    i++;
  }
  return out;
}

/** `/proc/net/snmp6`: one "Name value" a line. */
export function parseSnmp6(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^(\S+)\s+(-?\d+)$/.exec(line.trim());
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

/** ping's summary line: "3 packets transmitted, 0 received, ...". */
export function parsePing(output: string): { sent: number; received: number } {
  const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(output);
  return m ? { sent: Number(m[1]), received: Number(m[2]) } : { sent: 0, received: 0 };
}

const globalAddress = (l: LinkInfo, family: Family) =>
  (l.addr_info ?? []).find((a) => a.family === (family === 4 ? "inet" : "inet6") && a.scope === "global" && !a.dadfailed)?.local;

/** Pod B's address: the first global IPv4 of its interfaces other than lo, else the first global IPv6. */
export function targetAddress(links: LinkInfo[]): { address: string; family: Family; link: LinkInfo } | undefined {
  for (const family of [4, 6] as const) {
    for (const link of links) {
      if (link.ifname === "lo") continue;
      const address = globalAddress(link, family);
      if (address) return { address, family, link };
    }
  }
  return undefined;
}

/** One side of the path: a pod's interface and, when it is a veth whose peer is on the node, that peer and its bridge. */
interface Side {
  ns: string;
  link?: LinkInfo;
  peer?: LinkInfo;
  master?: LinkInfo;
}

const samePath = (a: string, b: string): boolean => {
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return p;
    }
  };
  return real(a) === real(b);
};

/**
 * The node's end of the pod's veth: the node link whose ifindex is the pod link's `link_index`
 * and whose own `link_index` is the pod link (indexes are per namespace: both ways, and the
 * namespace its nsid names when it has a name, so that a look-alike on another node is not taken).
 */
function peerOnNode(node: NodeView, pod: string, link: LinkInfo | undefined, peers: Map<number, string>): LinkInfo | undefined {
  if (!link || link.linkinfo?.info_kind !== "veth" || link.link_index === undefined) return undefined;
  const peer = node.links.find((l) => l.ifindex === link.link_index && l.link_index === link.ifindex && l.linkinfo?.info_kind === "veth");
  const nsid = peer && linkNetnsid(peer);
  if (!peer || nsid === undefined) return undefined;
  const named = peers.get(nsid);
  return named === undefined || samePath(named, pod) ? peer : undefined;
}

/** One counter a hop shows: which namespace, the key its snapshot holds it under, and how it reads. */
interface Row {
  place: Place;
  where: string;
  counter: string;
  key: string;
  /** Listed only when it moved (drops). */
  ifMoved?: boolean;
}

const linkKey = (place: Place, dev: string, counter: string) => `${place}|${dev}|${counter}`;
const protoKey = (place: Place, counter: string) => `${place}|${counter}`;

interface Path {
  family: Family;
  a: Side;
  b: Side;
  node: NodeView;
}

/** The counters in path order: the echo request from pod A through the node to pod B, then the reply back. */
function rows(p: Path): Row[] {
  const n = NAMES[p.family];
  const out: Row[] = [];
  const proto = (place: Place, where: string, counter: string) => out.push({ place, where, counter, key: protoKey(place, counter) });
  const dev = (place: Place, where: string, link: LinkInfo | undefined, dir: "rx" | "tx") => {
    if (!link) return;
    out.push({ place, where: `${where} ${link.ifname}`, counter: `${dir} packets`, key: linkKey(place, link.ifname, `${dir} packets`) });
    out.push({ place, where: `${where} ${link.ifname}`, counter: `${dir} dropped`, key: linkKey(place, link.ifname, `${dir} dropped`), ifMoved: true });
  };
  proto("A", "pod A", n.outEchos);
  dev("A", "pod A", p.a.link, "tx");
  dev("N", "node", p.a.peer, "rx");
  dev("N", "node", p.a.master, "rx");
  for (const c of [n.forwarded, n.inNoRoutes, n.outNoRoutes, n.addrErrors, n.rpFilter]) if (c) proto("N", "node", c);
  if (p.b.master && p.b.master.ifname !== p.a.master?.ifname) dev("N", "node", p.b.master, "tx");
  dev("N", "node", p.b.peer, "tx");
  dev("B", "pod B", p.b.link, "rx");
  proto("B", "pod B", n.inEchos);
  proto("B", "pod B", n.outReps);
  dev("B", "pod B", p.b.link, "tx");
  dev("N", "node", p.b.peer, "rx");
  dev("N", "node", p.a.peer, "tx");
  dev("A", "pod A", p.a.link, "rx");
  proto("A", "pod A", n.inReps);
  return out;
}

/** Every counter of the path, read now: the protocol counters of each namespace, the packets of each interface. */
async function snapshot(look: Look, p: Path): Promise<Map<string, number>> {
  const values = new Map<string, number>();
  const places: [Place, string | undefined, (LinkInfo | undefined)[]][] = [
    ["A", p.a.ns, [p.a.link]],
    ["N", p.node.netns, [p.a.peer, p.a.master, p.b.peer, p.b.master]],
    ["B", p.b.ns, [p.b.link]],
  ];
  const must = (r: Looked): string => {
    if (r.code !== 0) throw new CannotLook(`${r.command}: ${r.stderr.trim() || `exit code ${r.code}`}`);
    return r.stdout;
  };
  await Promise.all(
    places.flatMap(([place, ns, links]) => [
      (async () => {
        const tables = p.family === 4 ? parseTables(must(await look.run(ns, ["cat", "/proc/net/snmp"]))) : parseSnmp6(must(await look.run(ns, ["cat", "/proc/net/snmp6"])));
        if (place === "N") for (const [k, v] of parseTables(must(await look.run(ns, ["cat", "/proc/net/netstat"])))) tables.set(k, v);
        for (const [k, v] of tables) values.set(protoKey(place, k), v);
      })(),
      ...[...new Set(links.filter((l): l is LinkInfo => Boolean(l)).map((l) => l.ifname))].map(async (dev) => {
        const text = must(await look.run(ns, ["ip", "-s", "-j", "link", "show", "dev", dev]));
        let stats: { rx?: Record<string, number>; tx?: Record<string, number> } | undefined;
        try {
          stats = (JSON.parse(text) as { stats64?: typeof stats; stats?: typeof stats }[])[0]?.stats64;
        } catch {
          throw new CannotLook(`ip -s -j link show dev ${dev}: its output is not JSON`);
        }
        for (const dir of ["rx", "tx"] as const) {
          values.set(linkKey(place, dev, `${dir} packets`), stats?.[dir]?.packets ?? 0);
          values.set(linkKey(place, dev, `${dir} dropped`), stats?.[dir]?.dropped ?? 0);
        }
      }),
    ]),
  );
  return values;
}

/** The hops as a table a person reads: where, counter, change. */
export function hopTable(hops: ProbeReport["hops"]): string {
  const w = Math.max(5, ...hops.map((h) => h.where.length));
  const c = Math.max(7, ...hops.map((h) => h.counter.length));
  const line = (a: string, b: string, d: string) => `${a.padEnd(w)}  ${b.padEnd(c)}  ${d}`.trimEnd();
  return [line("where", "counter", "change"), ...hops.map((h) => line(h.where, h.counter, `${h.delta >= 0 ? "+" : ""}${h.delta}`))].join("\n");
}

interface Verdict {
  text: string;
  fix: string[];
  evidence: Evidence[];
}

/**
 * Where the packets stopped, from the counters' changes. Each stage is passed when its counter
 * moved by as many packets as the stage before let through (interface counters also count ARP and
 * neighbour discovery, so they may move more; a stage that did not see them all is where they died).
 */
async function verdictOf(look: Look, p: Path, d: (key: string) => number, ping: { sent: number; received: number; output: string }, address: string, routeA: Looked, sourceA: string | undefined): Promise<Verdict> {
  const n = NAMES[p.family];
  const { a, b, node } = p;
  const evidence: Evidence[] = [];
  const fix: string[] = [];
  const proto = (place: Place, counter: string) => d(protoKey(place, counter));
  const dev = (place: Place, link: LinkInfo | undefined, counter: string) => (link ? d(linkKey(place, link.ifname, counter)) : 0);
  const moved = (place: Place, link: LinkInfo | undefined, dir: "rx" | "tx") => {
    const dropped = dev(place, link, `${dir} dropped`);
    return `${link?.ifname} ${dir} +${dev(place, link, `${dir} packets`)}${dropped ? `, ${dir} dropped +${dropped}` : ""}`;
  };
  /** A stage that saw fewer than `need` packets (a link doctor could not find is not a stage). */
  const fewer = (place: Place, link: LinkInfo | undefined, counter: string, need: number) => link !== undefined && dev(place, link, counter) < need;
  const say = (text: string): Verdict => ({ text, fix, evidence });
  const requests = proto("A", n.outEchos);
  const replies = proto("B", n.outReps);
  const back = proto("A", n.inReps);

  if (ping.sent > 0 && ping.received >= ping.sent) return say(`pod A reached pod B (${address}): ${ping.received} of ${ping.sent} echo replies came back`);

  // The node's own reasons to drop, in the order the kernel checks them.
  const forwardOff = node.sysctl.get(FORWARD_SYSCTL[p.family]) === "0";
  const rp = n.rpFilter ? proto("N", n.rpFilter) : 0;
  const noRoute = proto("N", n.inNoRoutes) + proto("N", n.outNoRoutes);
  const addrErrors = proto("N", n.addrErrors);
  const forwarded = proto("N", n.forwarded);
  const bridged = Boolean(a.master && a.master.ifname === b.master?.ifname);
  const nodeDrop = (to: string, fromLink: LinkInfo | undefined): string | undefined => {
    if (rp > 0) return `rp_filter: ${short(n.rpFilter!)} +${rp}`;
    if (noRoute > 0) return `no route ${to}: ${noRoute === proto("N", n.inNoRoutes) ? short(n.inNoRoutes) : short(n.outNoRoutes)} +${noRoute}`;
    if (addrErrors > 0 && !bridged) return `not forwarded: ${short(n.addrErrors)} +${addrErrors}, forwarding is off${fromLink ? ` for ${fromLink.ifname} (net.ipv${p.family}.conf.${fromLink.ifname}.forwarding)` : ""}`;
    return undefined;
  };
  const sysctlEvidence = async (ns: string | undefined, key: string) => evidence.push(await look.showSysctls(ns, [key]));

  // Pod A.
  if (requests === 0) {
    if (routeA.code !== 0) {
      evidence.push(shown(routeA));
      return say(`pod A sent nothing: it has no route to ${address} (${routeA.stderr.trim() || `ip route get: exit code ${routeA.code}`})`);
    }
    const said = ping.output.trim().split("\n").pop() ?? "";
    return say(`pod A sent nothing (${short(n.outEchos)} +0)${said ? `: ping said "${said}"` : ""}`);
  }
  const sent = `${short(n.outEchos)} +${requests}`;
  if (fewer("A", a.link, "tx packets", requests)) return say(`pod A sent ${requests} echo requests (${sent}) but they did not leave it (${moved("A", a.link, "tx")})`);

  // Pod A to the node, the node to pod B.
  const arrived = proto("B", n.inEchos);
  if (arrived < requests) {
    const leftA = `left pod A (${moved("A", a.link, "tx")})`;
    if (a.peer && fewer("N", a.peer, "rx packets", requests)) return say(`the echo requests ${leftA} but never reached the node (${moved("N", a.peer, "rx")})`);
    const intoNode = a.peer ? `the echo requests left pod A and reached the node (${moved("N", a.peer, "rx")})` : `the echo requests ${leftA}`;
    if (a.peer || b.peer) {
      if (rp > 0) return say(`${intoNode} but the node dropped them: reverse-path filter (rp_filter: ${short(n.rpFilter!)} +${rp})`);
      if (forwardOff && !bridged) {
        await sysctlEvidence(node.netns, FORWARD_SYSCTL[p.family]);
        fix.push(onNode(node, ["sysctl", "-w", `${FORWARD_SYSCTL[p.family]}=1`]));
        return say(`${intoNode} but were not forwarded: ${FORWARD_SYSCTL[p.family]} is 0 on the node`);
      }
      const drop = nodeDrop(`to ${address}`, a.peer);
      if (drop) return say(`${intoNode} but died at the node (${drop})`);
    }
    if (b.peer && fewer("N", b.peer, "tx packets", requests)) {
      const how = bridged ? `the bridge ${a.master!.ifname} did not pass them on` : `the node forwarded ${forwarded} (${short(n.forwarded)} +${forwarded})`;
      return say(`${intoNode}, but never went out to pod B (${moved("N", b.peer, "tx")}): ${how}${forwarded || bridged ? "" : "; no drop counter moved (a firewall?)"}`);
    }
    if (!b.peer && a.peer && !bridged && forwarded < requests) return say(`${intoNode} but the node forwarded none of them (${short(n.forwarded)} +${forwarded}; no drop counter moved: a firewall?)`);
    if (fewer("B", b.link, "rx packets", requests)) {
      const beyond = b.peer ? "" : ": they died beyond this node, on the way to pod B's node";
      return say(`${intoNode}${b.peer ? ` and went out to pod B (${moved("N", b.peer, "tx")})` : ""}, but pod B's ${b.link?.ifname} did not receive them (${moved("B", b.link, "rx")})${beyond}`);
    }
    return say(`the echo requests reached pod B's ${b.link?.ifname} (${moved("B", b.link, "rx")}) but pod B did not take them in (${short(n.inEchos)} +${arrived})`);
  }

  // Pod B.
  if (replies < arrived) {
    const head = `the echo requests reached pod B (${short(n.inEchos)} +${arrived}) but it did not answer (${short(n.outReps)} +${replies})`;
    const ignore = await look.sysctls(b.ns, [ECHO_IGNORE_SYSCTL[p.family]]);
    if (ignore.values.get(ECHO_IGNORE_SYSCTL[p.family]) === "1") {
      evidence.push(shown(ignore.looked));
      return say(`${head}: ${ECHO_IGNORE_SYSCTL[p.family]} is 1 in pod B`);
    }
    if (sourceA) {
      const routeB = await look.run(b.ns, ["ip", "route", "get", sourceA]);
      if (routeB.code !== 0) {
        evidence.push(shown(routeB));
        return say(`${head}: pod B has no route back to ${sourceA} (${routeB.stderr.trim()})`);
      }
    }
    return say(head);
  }

  // Pod B back to pod A.
  const head = `the echo requests reached pod B, which answered (${short(n.outReps)} +${replies}), but the replies never reached pod A`;
  if (fewer("B", b.link, "tx packets", replies)) return say(`${head}: they did not leave pod B (${moved("B", b.link, "tx")})`);
  if (b.peer && fewer("N", b.peer, "rx packets", replies)) return say(`${head}: they left pod B (${moved("B", b.link, "tx")}) but never reached the node (${moved("N", b.peer, "rx")})`);
  const to = `back to ${sourceA ?? "pod A"}`;
  if (b.peer || a.peer) {
    const drop = nodeDrop(to, b.peer);
    if (drop) return say(`${head}: they died at the node on the way back (${drop})`);
  }
  if (a.peer && fewer("N", a.peer, "tx packets", replies)) {
    if (b.peer) return say(`${head}: they died at the node on the way back (${moved("N", b.peer, "rx")} but ${moved("N", a.peer, "tx")}; no drop counter moved: a firewall?)`);
    return say(`${head}: they never came back through this node (${moved("N", a.peer, "tx")}) and no drop counter moved here: they died on the way back, before this node (pod B's node: no route back, or rp_filter there?)`);
  }
  if (!a.peer && fewer("A", a.link, "rx packets", replies)) {
    const through = b.peer ? ` reached the node (${moved("N", b.peer, "rx")}) and` : "";
    return say(`${head}: they${through} left this node (${short(n.forwarded)} +${forwarded}) but pod A's ${a.link?.ifname} did not receive them (${moved("A", a.link, "rx")}): they died beyond this node, on the way to pod A's node`);
  }
  if (fewer("A", a.link, "rx packets", replies)) return say(`${head}: they went out to pod A (${moved("N", a.peer, "tx")}) but pod A's ${a.link?.ifname} did not receive them (${moved("A", a.link, "rx")})`);
  if (back < replies) return say(`${head}: they reached pod A's ${a.link?.ifname} (${moved("A", a.link, "rx")}) but pod A did not take them in (${short(n.inReps)} +${back})`);
  return say(`only ${ping.received} of ${ping.sent} echo replies came back in time, though pod A took in ${back} (${short(n.inReps)} +${back}): they were late`);
}

/**
 * Pings pod B from pod A (namespace paths) and says where the packets died: a finding
 * "probe-failed" when not every reply came back. Throws CannotLook when a namespace cannot be read
 * or pod B has no global address.
 */
export async function probe(look: Look, node: NodeView, podA: string, podB: string): Promise<{ report: ProbeReport; finding?: Finding }> {
  const [linksA, linksB] = await Promise.all([look.links(podA), look.links(podB)]);
  const target = targetAddress(linksB);
  if (!target) throw new CannotLook(`--probe: pod B (${podB}) has no global address on an interface other than lo`);
  const { address, family } = target;
  // The interface pod A would send on (its route), else the one carrying its address of that family.
  const routeA = await look.run(podA, ["ip", "-j", "route", "get", address]);
  let routed: { dev?: string; prefsrc?: string } | undefined;
  try {
    routed = routeA.code === 0 ? (JSON.parse(routeA.stdout) as { dev?: string; prefsrc?: string }[])[0] : undefined;
  } catch {
    routed = undefined;
  }
  const linkA = linksA.find((l) => l.ifname === routed?.dev && l.ifname !== "lo") ?? linksA.find((l) => l.ifname !== "lo" && globalAddress(l, family));
  const sourceA = routed?.prefsrc ?? (linkA && globalAddress(linkA, family));
  const peers = await look.namedNamespaces(node.netns);
  const side = (ns: string, link: LinkInfo | undefined): Side => {
    const peer = peerOnNode(node, ns, link, peers);
    const master = peer?.master ? node.links.find((l) => l.ifname === peer.master) : undefined;
    return { ns, link, peer, master };
  };
  const path: Path = { family, a: side(podA, linkA), b: side(podB, target.link), node };

  const before = await snapshot(look, path);
  const pinged = await look.run(podA, ["ping", "-c", String(PING_COUNT), "-W", "1", "-i", "0.2", "-n", "-q", address]);
  const after = await snapshot(look, path);
  const d = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
  const hops = rows(path)
    .map((r) => ({ where: r.where, counter: r.counter, delta: d(r.key), ifMoved: r.ifMoved }))
    .filter((h) => !h.ifMoved || h.delta !== 0)
    .map(({ where, counter, delta }) => ({ where, counter, delta }));
  const ping = { ...parsePing(pinged.output), output: pinged.output };
  const verdict = await verdictOf(look, path, d, ping, address, routeA, sourceA);
  const report: ProbeReport = { from: podA, to: podB, address, sent: ping.sent, received: ping.received, hops, verdict: verdict.text };
  if (ping.sent > 0 && ping.received >= ping.sent) return { report };
  const table = { command: family === 4 ? TABLE_COMMAND : TABLE_COMMAND_6, output: hopTable(hops) };
  return { report, finding: { id: "probe-failed", message: verdict.text, evidence: [shown(pinged), table, ...verdict.evidence], fix: verdict.fix } };
}
