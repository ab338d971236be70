import { renderShell } from "../../shared/kernel/ops";
import { findExecutable } from "../../shared/kernel/which";
import { formatIP, formatPrefix } from "../../shared/net/ip";
import { attachmentTag, MASQ_TABLE, masqueradedIn } from "../../shared/netfilter/masquerade";
import { chainName, iptablesSaveArgv } from "../../shared/netfilter/masquerade-iptables";
import { masqueradeAddOps } from "../../shared/plugin/ipmasq";
import { CheckContext, livePods } from "../context";
import type { Finding } from "../finding";
import { shown } from "../look";
import type { Pod } from "../pods";
import { podLabel } from "../pods";
import { podRef } from "./links";

interface NftSet {
  set?: { name: string; elem?: ({ elem?: { val?: unknown } } | string)[] };
}

/** The addresses in the per-pod sets (masq_pods4/6) of our nftables table. */
function podSetMembers(json: string): Set<string> {
  const out = new Set<string>();
  const items = (JSON.parse(json).nftables ?? []) as NftSet[];
  for (const item of items) {
    if (!item.set || !/^masq_pods[46]$/.test(item.set.name)) continue;
    for (const e of item.set.elem ?? []) {
      const val = typeof e === "string" ? e : e.elem?.val;
      if (typeof val === "string") out.add(val);
    }
  }
  return out;
}

/** masquerade-missing: an ipMasq network's pod without its entries, in the backend the plugin uses. */
export async function checkMasquerade(ctx: CheckContext): Promise<Finding[]> {
  const out: Finding[] = [];
  const { look, node } = ctx;
  const nets = ctx.networks.filter((n) => n.ipMasq && livePods(ctx, n).length);
  if (!nets.length) return out;
  let nft: { tags: Map<string, string[]>; pods: Set<string> } | undefined;
  const dumps = new Map<4 | 6, string>();
  for (const net of nets) {
    // Per pod, the families whose entries are missing: the fix re-adds only those.
    const missing = new Map<Pod, Set<4 | 6>>();
    const miss = (p: Pod, family: 4 | 6) => missing.set(p, (missing.get(p) ?? new Set()).add(family));
    for (const p of livePods(ctx, net)) {
      const tag = attachmentTag({ network: net.name, containerId: p.containerId, ifname: p.ifname });
      if (net.masqBackend === "iptables") {
        for (const family of [...new Set(p.addresses.map((a) => a.ip.family))]) {
          if (!dumps.has(family)) {
            const r = await look.run(undefined, iptablesSaveArgv(family, node.netns));
            if (r.code !== 0) {
              ctx.cannot.push(`cannot read the nat table: ${r.command}: ${r.stderr.trim()}`);
              return out;
            }
            dumps.set(family, r.stdout);
          }
          if (!dumps.get(family)!.includes(`-j ${chainName(tag)}`)) miss(p, family);
        }
        continue;
      }
      if (!nft) {
        if (!findExecutable("nft")) {
          ctx.cannot.push(`${net.name} masquerades with nftables, but nft is not installed here: its entries were not checked`);
          return out;
        }
        const table = await look.run(node.netns, ["nft", "-j", "list", "table", "inet", MASQ_TABLE]);
        const absent = table.code !== 0 && /No such file or directory|does not exist/.test(table.stderr);
        if (table.code !== 0 && !absent) {
          ctx.cannot.push(`cannot read the masquerade table: ${table.command}: ${table.stderr.trim()}`);
          return out;
        }
        nft = absent ? { tags: new Map(), pods: new Set() } : { tags: masqueradedIn(table.stdout), pods: podSetMembers(table.stdout) };
      }
      const local = (nft.tags.get(tag) ?? []).map((a) => a.split("/")[0]);
      for (const a of p.addresses) if (!local.includes(formatIP(a.ip)) || !nft.pods.has(formatIP(a.ip))) miss(p, a.ip.family);
    }
    if (!missing.size) continue;
    const families = [...new Set([...missing.values()].flatMap((f) => [...f]))].sort();
    const evidence = [];
    for (const family of families) {
      const argv = net.masqBackend === "iptables" ? [family === 4 ? "iptables" : "ip6tables", "-t", "nat", "-S", "POSTROUTING"] : ["nft", "list", "set", "inet", MASQ_TABLE, `masq_pods${family}`];
      evidence.push(shown(await look.run(node.netns, argv)));
    }
    const pods = [...missing.keys()];
    out.push({
      id: "masquerade-missing",
      network: net.name,
      pod: pods.length === 1 ? podRef(pods[0]) : undefined,
      message: `${net.name} has ipMasq on, but ${net.masqBackend} has no masquerade entry for ${pods.map(podLabel).join("; ")}: ${pods.length === 1 ? "its" : "their"} packets leave with the pod's own address, and the replies never find their way back`,
      evidence,
      fix: pods.flatMap((p) => {
        const addresses = p.addresses.filter((a) => missing.get(p)!.has(a.ip.family)).map((a) => formatPrefix(a.prefix));
        return masqueradeAddOps(net.masqBackend ?? "nftables", addresses, { network: net.name, containerId: p.containerId, ifname: p.ifname }).map((op) => renderShell({ ...op, netns: node.netns }));
      }),
    });
  }
  return out;
}
