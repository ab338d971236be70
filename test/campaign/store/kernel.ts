import { runCommand } from "../../../shared/kernel/run";

interface Link {
  ifname: string;
  master?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: { local: string; prefixlen: number; scope: string }[];
}

/**
 * What a failed or undone call must leave as it found it in namespace `ns`: the links (name,
 * kind, master), their global addresses, the routes and the netfilter ruleset. Not MACs,
 * indexes or link-local addresses, which the kernel picks.
 */
export async function kernelSnapshot(ns: string): Promise<string[]> {
  const ip = async (...args: string[]) => JSON.parse((await runCommand(["ip", "-n", ns, "-j", ...args])).stdout || "[]");
  const links = (await ip("-d", "addr", "show")) as Link[];
  const out = links.map((l) => {
    const addrs = (l.addr_info ?? []).filter((a) => a.scope !== "link").map((a) => `${a.local}/${a.prefixlen}`);
    return `link ${l.ifname} ${l.linkinfo?.info_kind ?? ""} ${l.master ?? ""} ${addrs.join(",")}`;
  });
  for (const fam of ["-4", "-6"]) {
    for (const r of (await ip(fam, "route", "show", "table", "all")) as Record<string, unknown>[]) {
      if (String(r.dst).startsWith("fe80") || String(r.dst).startsWith("ff00") || r.type === "multicast") continue;
      out.push(`route ${fam} ${r.dst} ${r.gateway ?? ""} ${r.dev ?? ""} ${r.table ?? ""}`);
    }
  }
  const nft = await runCommand(["ip", "netns", "exec", ns, "nft", "list", "ruleset"]);
  out.push(...nft.stdout.split("\n").map((l) => `nft ${l.trim()}`).filter((l) => l !== "nft "));
  return out.sort();
}

/** Names of the links in `ns`. */
export async function linkNames(ns: string): Promise<string[]> {
  const r = await runCommand(["ip", "-n", ns, "-j", "link", "show"]);
  return ((JSON.parse(r.stdout || "[]") as Link[]) ?? []).map((l) => l.ifname).sort();
}
