import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { runCommand } from "../../../shared/kernel/run";

/**
 * What a plugin call may change, read from the kernel and the IPAM store: the links (with their
 * addresses) and routes of the node and the pod namespaces, the node's netfilter entries of
 * patchcord, and every file of the store with its content. Two snapshots are compared as sorted
 * lines, so a difference names what changed.
 *
 * Left out, because ADD creates them once for every pod of the node and DEL leaves them by design
 * (as the reference does): bridges with their gateway addresses and routes, the static tables,
 * chains and rules that hold the per-pod set elements, forwarding sysctls. Also left out:
 * host-local's `last_reserved_ip.*` (only a hint of where to look next, rewritten by an allocation
 * that a later failure rolls back; the reservations themselves are compared).
 */
export interface Snapshot {
  node: string[];
  pod: string[];
  netfilter: string[];
  store: string[];
}

interface Link {
  ifname: string;
  mtu: number;
  flags: string[];
  master?: string;
  address?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: { local: string; prefixlen: number; scope?: string }[];
}
interface Route {
  dst: string;
  gateway?: string;
  dev?: string;
  table?: string;
  type?: string;
  protocol?: string;
  scope?: string;
}

const SECTION = "@@section@@";

// One process per snapshot (sh inside the node namespace), not one per query: the fuzzer takes
// thousands of snapshots.
const script = (pod: string) =>
  [
    "ip -j -d addr show",
    "ip -j route show table all",
    "ip -j -6 route show table all",
    `ip -n ${pod} -j -d addr show`,
    `ip -n ${pod} -j route show table all`,
    `ip -n ${pod} -j -6 route show table all`,
    "nft -j list ruleset 2>/dev/null || echo '{}'",
    "iptables-save 2>/dev/null; ip6tables-save 2>/dev/null",
  ].join(`; echo ${SECTION}; `);

const parse = <T>(text: string): T[] => {
  try {
    return (JSON.parse(text.trim() || "[]") as T[]) ?? [];
  } catch {
    return [{ unparsable: text } as T];
  }
};

function linkLines(links: Link[], skip: Set<string>): string[] {
  return links
    .filter((l) => !skip.has(l.ifname))
    .map((l) => `link ${l.ifname} ${l.linkinfo?.info_kind ?? "-"} master=${l.master ?? "-"} mtu=${l.mtu} ${l.flags.includes("UP") ? "up" : "down"} mac=${l.address} ${(l.addr_info ?? []).filter((a) => a.scope !== "link").map((a) => `${a.local}/${a.prefixlen}`).join(",")}`);
}

function routeLines(routes: Route[], skip: Set<string>): string[] {
  // Link-local and multicast routes come and go with each link's IPv6 (and a while after it is up).
  const kernelMade = (r: Route) => /^(fe80|ff00)/.test(r.dst) || r.type === "multicast";
  return routes.filter((r) => (!r.dev || !skip.has(r.dev)) && !kernelMade(r)).map((r) => `route ${r.table ?? "main"} ${r.type ?? ""} ${r.dst} via=${r.gateway ?? "-"} dev=${r.dev ?? "-"} ${r.protocol ?? ""} ${r.scope ?? ""}`);
}

/** Set elements of patchcord's nftables tables and iptables lines of its per-pod chains. */
function netfilterLines(nftJson: string, iptables: string): string[] {
  const out: string[] = [];
  let doc: { nftables?: Record<string, { family: string; table: string; name: string; elem?: unknown[] }>[] } = {};
  try {
    doc = JSON.parse(nftJson || "{}");
  } catch {
    out.push(`nft unparsable: ${nftJson.slice(0, 200)}`);
  }
  for (const item of doc.nftables ?? []) {
    const set = item.set ?? item.map;
    if (set && set.table.startsWith("patchcord")) for (const e of set.elem ?? []) out.push(`nft ${set.family} ${set.table} ${set.name} ${JSON.stringify(e)}`);
    const rule = item.rule as unknown as { table: string; family: string; chain: string; comment?: string } | undefined;
    if (rule && rule.table.startsWith("patchcord") && rule.comment) out.push(`nft rule ${rule.family} ${rule.table} ${rule.chain} ${rule.comment}`);
  }
  for (const line of iptables.split("\n")) {
    if (/patchcord|PC-MASQ|CNI/i.test(line) && !line.startsWith("#")) out.push(`ipt ${line.replace(/\[\d+:\d+\]/g, "")}`);
  }
  return out;
}

function storeLines(dir: string, base = dir): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names) {
    const p = join(dir, n);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) out.push(...storeLines(p, base));
    else if (!n.startsWith("last_reserved_ip.")) out.push(`file ${p.slice(base.length)} ${JSON.stringify(readFileSync(p, "utf8"))}`);
  }
  return out;
}

export async function takeSnapshot(node: string, pod: string, dataDir: string): Promise<Snapshot> {
  const r = await runCommand(["ip", "netns", "exec", node, "sh", "-c", script(pod)]);
  const [nodeAddr, node4, node6, podAddr, pod4, pod6, nft, ipt] = r.stdout.split(SECTION);
  const nodeLinks = parse<Link>(nodeAddr);
  const bridges = new Set(nodeLinks.filter((l) => l.linkinfo?.info_kind === "bridge").map((l) => l.ifname));
  const podLinks = parse<Link>(podAddr);
  return {
    node: [...linkLines(nodeLinks, bridges), ...routeLines([...parse<Route>(node4), ...parse<Route>(node6)], bridges)].sort(),
    pod: [...linkLines(podLinks, new Set()), ...routeLines([...parse<Route>(pod4), ...parse<Route>(pod6)], new Set())].sort(),
    netfilter: netfilterLines(nft ?? "", ipt ?? "").sort(),
    store: storeLines(dataDir).sort(),
  };
}

/** The lines that differ, as `- before` / `+ after`; empty when nothing changed. */
export function diffSnapshots(before: Snapshot, after: Snapshot): string[] {
  const out: string[] = [];
  for (const k of ["node", "pod", "netfilter", "store"] as const) {
    const a = new Set(before[k]);
    const b = new Set(after[k]);
    for (const l of before[k]) if (!b.has(l)) out.push(`${k}: - ${l}`);
    for (const l of after[k]) if (!a.has(l)) out.push(`${k}: + ${l}`);
  }
  return out;
}
