import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runCommand } from "../../../shared/kernel/run";

/**
 * What a pod's attachment can leave behind, as sorted lines, so that two snapshots compare as
 * sets and a leak reads as the line that appeared: the node's and the pod's links, addresses and
 * routes, the node's netfilter state (nft, which also holds iptables-nft's rules, and
 * iptables-save where the iptables backend is used), and the network's reservations in the
 * dataDir. Left out: what changes without anyone leaking (MACs, indexes, counters, link-local
 * addresses and routes, flags such as linkdown, last_reserved_ip, the lock file).
 */
export interface Where {
  node: string;
  pod?: string;
  dataDir: string;
  network: string;
  iptables?: boolean;
}

interface Link {
  ifname: string;
  flags: string[];
  master?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: { local: string; prefixlen: number; scope: string }[];
}
type Route = Record<string, unknown>;
type NftItem = Record<string, Record<string, unknown>>;

const linkLocal = (dst: unknown) => /^(fe80|ff00|ff02)/.test(String(dst));
const parse = <T>(text: string | undefined, fallback: T): T => (text?.trim() ? (JSON.parse(text) as T) : fallback);

function ipLines(where: string, sections: Map<string, string>): string[] {
  const lines: string[] = [];
  for (const l of parse<Link[]>(sections.get(`${where} addr`), [])) {
    lines.push(`${where} link ${l.ifname} kind=${l.linkinfo?.info_kind ?? "-"} master=${l.master ?? "-"} up=${l.flags.includes("UP")}`);
    for (const a of l.addr_info ?? []) if (a.scope !== "link") lines.push(`${where} addr ${l.ifname} ${a.local}/${a.prefixlen}`);
  }
  for (const family of ["-4", "-6"]) {
    for (const r of parse<Route[]>(sections.get(`${where} route ${family}`), [])) {
      if (linkLocal(r.dst) || r.type === "multicast") continue;
      lines.push(`${where} route ${family} ${r.table ?? "main"} ${r.type ?? "unicast"} ${r.dst} via=${r.gateway ?? "-"} dev=${r.dev ?? "-"} scope=${r.scope ?? "-"} proto=${r.protocol ?? "-"}`);
    }
  }
  return lines;
}

/** Every table, chain, rule (its expressions), set and set element of the node, handles aside. */
function nftLines(text: string | undefined): string[] {
  const lines: string[] = [];
  for (const item of parse<{ nftables?: NftItem[] }>(text, {}).nftables ?? []) {
    const [kind, v] = Object.entries(item)[0];
    const at = `${v.family} ${v.table ?? v.name}`;
    if (kind === "table") lines.push(`node nft table ${at}`);
    else if (kind === "chain") lines.push(`node nft chain ${at} ${v.name} hook=${v.hook ?? "-"}`);
    else if (kind === "rule") lines.push(`node nft rule ${at} ${v.chain} ${JSON.stringify(v.expr)}${v.comment ? ` comment=${v.comment}` : ""}`);
    else if (kind === "set" || kind === "map") {
      lines.push(`node nft set ${at} ${v.name}`);
      for (const e of (v.elem as unknown[]) ?? []) lines.push(`node nft element ${at} ${v.name} ${JSON.stringify(e)}`);
    }
  }
  return lines;
}

function iptablesLines(save: string, text: string | undefined): string[] {
  const lines: string[] = [];
  for (const l of (text ?? "").split("\n")) {
    if (!l || l.startsWith("#") || l === "COMMIT" || l.startsWith("*")) continue;
    lines.push(`node ${save} ${l.replace(/\[\d+:\d+\]/, "[0:0]")}`);
  }
  return lines;
}

/**
 * Every query of a snapshot in one shell inside the node namespace (the pod's through `ip -n`):
 * one process started from here instead of ten, which is most of a snapshot's cost.
 */
async function query(w: Where): Promise<Map<string, string>> {
  const parts: [string, string][] = [];
  for (const [where, ns] of [["node", w.node], ...(w.pod ? [["pod", w.pod]] : [])]) {
    parts.push([`${where} addr`, `ip -n ${ns} -j -d addr show`]);
    for (const f of ["-4", "-6"]) parts.push([`${where} route ${f}`, `ip -n ${ns} -j ${f} route show table all`]);
  }
  parts.push(["nft", "nft -j list ruleset"]);
  if (w.iptables) for (const save of ["iptables-save", "ip6tables-save"]) parts.push([save, `${save} -t nat`]);
  const script = parts.map(([name, cmd]) => `echo '@@ ${name}'; ${cmd} || echo '@@ failed: ${name}'`).join("\n");
  const r = await runCommand(["ip", "netns", "exec", w.node, "sh", "-c", script]);
  const sections = new Map<string, string>();
  let current: string | undefined;
  for (const line of r.stdout.split("\n")) {
    if (line.startsWith("@@ failed: ")) throw new Error(`snapshot: ${line.slice(3)} failed: ${r.stderr.trim()}`);
    if (line.startsWith("@@ ")) sections.set((current = line.slice(3)), "");
    else if (current) sections.set(current, sections.get(current) + line + "\n");
  }
  return sections;
}

function storeLines(dataDir: string, network: string): string[] {
  let files: string[];
  try {
    files = readdirSync(join(dataDir, network));
  } catch {
    return [];
  }
  return files
    .filter((f) => !f.startsWith("last_reserved_ip") && f !== "lock")
    .map((f) => `store ${network}/${f} ${JSON.stringify(readFileSync(join(dataDir, network, f), "utf8"))}`);
}

export async function snapshot(w: Where): Promise<string[]> {
  const sections = await query(w);
  const lines = [...ipLines("node", sections), ...(w.pod ? ipLines("pod", sections) : []), ...nftLines(sections.get("nft"))];
  if (w.iptables) for (const save of ["iptables-save", "ip6tables-save"]) lines.push(...iptablesLines(save, sections.get(save)));
  return [...lines, ...storeLines(w.dataDir, w.network)].sort();
}

/** Lines only in `after` (left behind) and only in `before` (taken away), minus what `ignore` accepts. */
export function diff(before: string[], after: string[], ignore: (line: string) => boolean = () => false): { added: string[]; removed: string[] } {
  const b = new Set(before);
  const a = new Set(after);
  return {
    added: after.filter((l) => !b.has(l) && !ignore(l)),
    removed: before.filter((l) => !a.has(l) && !ignore(l)),
  };
}
