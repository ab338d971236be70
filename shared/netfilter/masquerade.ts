import { fnv1a64 } from "../hash";
import { CniError, ErrorCode } from "../cni/errors";
import { formatIP, formatPrefix, networkOf, parsePrefix, Prefix } from "../net/ip";
import { nftScript, Op } from "../kernel/ops";

/**
 * ipMasq with nftables: one table that every pod shares, and per pod only set elements, so that
 * ADD, DEL and GC are single transactions that never need rule handles.
 *
 *   table inet patchcord
 *     set masq_pods4   { type ipv4_addr }                               pods that masquerade
 *     set masq_local4  { type ipv4_addr . ipv4_addr; flags interval }   (pod . its own subnet)
 *     chain postrouting (nat, srcnat):
 *       ip saddr @masq_pods4 ip saddr . ip daddr != @masq_local4 ip daddr != 224.0.0.0/4 masquerade
 *   (and the same with 6 / ff00::/8)
 *
 * Every element carries the comment `<network>/<containerID>/<ifname>` (hashed when too long), the
 * tag by which DEL and GC find exactly the elements of one attachment.
 */
export const MASQ_TABLE = "patchcord";

export interface Attachment {
  network: string;
  containerId: string;
  ifname: string;
}

/** The tag of an attachment; names and ids are validated, so it needs no quoting beyond "...". */
export function attachmentTag(a: Attachment): string {
  const tag = `${a.network}/${a.containerId}/${a.ifname}`;
  if (tag.length <= 120) return tag;
  return `${a.network.slice(0, 40)}/#${fnv1a64(tag)}`;
}

const BASE = [
  `add table inet ${MASQ_TABLE} { comment "patchcord: pod masquerade (ipMasq)"; }`,
  `add set inet ${MASQ_TABLE} masq_pods4 { type ipv4_addr; }`,
  `add set inet ${MASQ_TABLE} masq_local4 { type ipv4_addr . ipv4_addr; flags interval; }`,
  `add set inet ${MASQ_TABLE} masq_pods6 { type ipv6_addr; }`,
  `add set inet ${MASQ_TABLE} masq_local6 { type ipv6_addr . ipv6_addr; flags interval; }`,
  `add chain inet ${MASQ_TABLE} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
  // Rewritten in every transaction, so the chain holds exactly these two rules whatever was there.
  `flush chain inet ${MASQ_TABLE} postrouting`,
  `add rule inet ${MASQ_TABLE} postrouting ip saddr @masq_pods4 ip saddr . ip daddr != @masq_local4 ip daddr != 224.0.0.0/4 masquerade`,
  `add rule inet ${MASQ_TABLE} postrouting ip6 saddr @masq_pods6 ip6 saddr . ip6 daddr != @masq_local6 ip6 daddr != ff00::/8 masquerade`,
];

function elements(addresses: string[], tag: string): { set: string; elem: string }[] {
  const out: { set: string; elem: string }[] = [];
  for (const text of addresses) {
    const p: Prefix | undefined = parsePrefix(text);
    if (!p) throw new CniError(ErrorCode.InvalidNetworkConfig, `ipMasq: ${JSON.stringify(text)} is not an address with prefix`);
    const fam = p.ip.family;
    const comment = `comment "${tag}"`;
    out.push({ set: `masq_pods${fam}`, elem: `${formatIP(p.ip)} ${comment}` });
    out.push({ set: `masq_local${fam}`, elem: `${formatIP(p.ip)} . ${formatPrefix({ ip: networkOf(p), bits: p.bits })} ${comment}` });
  }
  return out;
}

/** Adding an element then deleting it makes the delete succeed whether or not it was there. */
function removal(addresses: string[]): string[] {
  const lines: string[] = [];
  for (const { set, elem } of elements(addresses, "")) {
    const key = elem.replace(/ comment ".*"$/, "");
    lines.push(`add element inet ${MASQ_TABLE} ${set} { ${key} }`, `delete element inet ${MASQ_TABLE} ${set} { ${key} }`);
  }
  return lines;
}

/**
 * ADD: masquerade traffic from `addresses` (pod `ip/prefix`) leaving their own subnets.
 *
 * `create element`, which fails when the element is there already: an element left behind by an
 * attachment that was never deleted (a node whose IPAM store was emptied, a DEL that never came)
 * carries the old attachment's tag, and a GC would remove it, and with it the new pod's
 * masquerade. Then the transaction runs again with the table's declarations and those elements
 * removed first (the `setup`, which apply runs only after a failure: with a `delete`, nft 1.0
 * answers about four times slower, as it loads the whole ruleset first).
 */
export function masqueradeOps(addresses: string[], a: Attachment): Op {
  const tag = attachmentTag(a);
  const creates = elements(addresses, tag).map(({ set, elem }) => `create element inet ${MASQ_TABLE} ${set} { ${elem} }`);
  const lines = (l: string[]) => l.join("\n") + "\n";
  return nftScript({ setup: lines([...BASE, ...removal(addresses)]), script: lines(creates), undo: lines([...BASE, ...removal(addresses)]) });
}

/** DEL and GC: stop masquerading `addresses`; succeeds when they are not there. */
export function unmasqueradeOps(addresses: string[]): Op {
  return nftScript({ setup: BASE.join("\n") + "\n", script: removal(addresses).join("\n") + "\n" });
}

interface NftElem {
  elem?: { val?: unknown; comment?: string };
}

/**
 * The masqueraded addresses (`ip/prefix`) per attachment tag, read from the kernel with one
 * `nft -j list table`. Empty when the table does not exist.
 */
export async function listMasqueraded(run: (argv: string[]) => Promise<{ code: number; stdout: string; stderr: string }>, netnsPrefix: string[] = []): Promise<Map<string, string[]>> {
  const r = await run([...netnsPrefix, "nft", "-j", "list", "table", "inet", MASQ_TABLE]);
  if (r.code !== 0) {
    if (/No such file or directory|does not exist/.test(r.stderr)) return new Map();
    throw new CniError(ErrorCode.KernelOperationFailed, "cannot read the masquerade table", r.stderr.trim());
  }
  return masqueradedIn(r.stdout);
}

/** The masqueraded addresses per attachment tag in `nft -j list table inet patchcord` output. */
export function masqueradedIn(json: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const items = (JSON.parse(json).nftables ?? []) as { set?: { name: string; elem?: unknown[] } }[];
  for (const item of items) {
    if (!item.set || !/^masq_local[46]$/.test(item.set.name)) continue;
    for (const e of (item.set.elem ?? []) as NftElem[]) {
      const val = e.elem?.val as { concat?: unknown[] } | undefined;
      const [ip, net] = val?.concat ?? [];
      // nft prints a full-length prefix (/32, /128) as a plain address.
      const len = typeof net === "string" ? (net.includes(":") ? 128 : 32) : (net as { prefix?: { len: number } })?.prefix?.len;
      if (typeof ip !== "string" || len === undefined || !e.elem?.comment) continue;
      const list = out.get(e.elem.comment) ?? [];
      list.push(`${ip}/${len}`);
      out.set(e.elem.comment, list);
    }
  }
  return out;
}
