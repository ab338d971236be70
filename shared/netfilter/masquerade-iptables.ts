import { CniError, ErrorCode } from "../cni/errors";
import { fnv1a64 } from "../hash";
import { nsPrefix, Op } from "../kernel/ops";
import { formatIP, formatPrefix, networkOf, parsePrefix } from "../net/ip";
import { Attachment, attachmentTag } from "./masquerade";

/**
 * ipMasq with iptables (`ipMasqBackend: "iptables"`), as the reference lays it out: per pod a chain
 * in the nat table that accepts the pod's own subnet and masquerades the rest (but multicast),
 * and a POSTROUTING jump for the pod's address. Everything carries the comment
 * `patchcord: <network>/<container>/<ifname>`, and the chain is named after a hash of that tag,
 * so DEL and GC find exactly one attachment's rules. One `iptables-restore --noflush` per family.
 */
export const chainName = (tag: string): string => `PC-MASQ-${fnv1a64(tag)}`;
const comment = (tag: string) => `-m comment --comment "patchcord: ${tag}"`;

interface Rules {
  family: 4 | 6;
  lines: string[];
}

function rulesByFamily(addresses: string[], tag: string): Rules[] {
  const chain = chainName(tag);
  const out: Rules[] = [];
  for (const family of [4, 6] as const) {
    const mine = addresses.map((a) => parsePrefix(a)).filter((p) => p?.ip.family === family);
    if (!mine.length) continue;
    const lines = [`:${chain} - [0:0]`];
    for (const p of mine) lines.push(`-A ${chain} -d ${formatPrefix({ ip: networkOf(p!), bits: p!.bits })} ${comment(tag)} -j ACCEPT`);
    lines.push(`-A ${chain} ! -d ${family === 4 ? "224.0.0.0/4" : "ff00::/8"} ${comment(tag)} -j MASQUERADE`);
    for (const p of mine) lines.push(`-A POSTROUTING -s ${formatIP(p!.ip)}/${family === 4 ? 32 : 128} ${comment(tag)} -j ${chain}`);
    out.push({ family, lines });
  }
  return out;
}

const restoreInput = (lines: string[]) => ["*nat", ...lines, "COMMIT", ""].join("\n");

/** ADD: one iptables-restore transaction per family; its undo removes exactly what it added. */
export function iptablesMasqueradeOps(addresses: string[], a: Attachment, netns?: string): Op[] {
  for (const text of addresses) {
    if (!parsePrefix(text)) throw new CniError(ErrorCode.InvalidNetworkConfig, `ipMasq: ${JSON.stringify(text)} is not an address with prefix`);
  }
  const tag = attachmentTag(a);
  return rulesByFamily(addresses, tag).map(({ family, lines }) => ({
    tool: "iptables",
    family,
    netns,
    input: restoreInput(lines),
    undo: restoreInput(removalLines(lines, chainName(tag))),
  }));
}

/** Deleting the POSTROUTING jumps first, then the chain (a chain still jumped to cannot go). */
function removalLines(addLines: string[], chain: string): string[] {
  const jumps = addLines.filter((l) => l.startsWith("-A POSTROUTING ")).map((l) => l.replace(/^-A /, "-D "));
  return [...jumps, `-F ${chain}`, `-X ${chain}`];
}

/**
 * DEL and GC: the removal for every patchcord chain in an `iptables-save -t nat` dump whose tag
 * passes `select`; empty when there is nothing to remove.
 */
export function iptablesRemovals(dump: string, select: (tag: string) => boolean): string[] {
  const tagOf = new Map<string, string>();
  for (const m of dump.matchAll(/^-A (PC-MASQ-[0-9a-f]{16}) .*--comment "patchcord: ([^"]+)"/gm)) tagOf.set(m[1], m[2]);
  const lines: string[] = [];
  for (const [chain, tag] of tagOf) {
    if (!select(tag)) continue;
    const jumps = dump.split("\n").filter((l) => l.startsWith("-A POSTROUTING ") && l.endsWith(` -j ${chain}`));
    lines.push(...jumps.map((l) => l.replace(/^-A /, "-D ")), `-F ${chain}`, `-X ${chain}`);
  }
  return lines;
}

export const iptablesRestoreArgv = (family: 4 | 6, netns?: string): string[] => [...nsPrefix(netns), family === 4 ? "iptables-restore" : "ip6tables-restore", "--noflush"];
export const iptablesSaveArgv = (family: 4 | 6, netns?: string): string[] => [...nsPrefix(netns), family === 4 ? "iptables-save" : "ip6tables-save", "-t", "nat"];
export const iptablesRemovalInput = (lines: string[]): string => restoreInput(lines);
