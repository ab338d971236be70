import { CniError, ErrorCode } from "../cni/errors";
import { applyPlan } from "../kernel/apply";
import type { Op } from "../kernel/ops";
import { runCommand } from "../kernel/run";
import type { Tracer } from "../kernel/trace";
import { findExecutable } from "../kernel/which";
import { Attachment, attachmentTag, listMasqueraded, masqueradeOps, unmasqueradeOps } from "../netfilter/masquerade";
import { chainName, iptablesMasqueradeOps, iptablesRemovalInput, iptablesRemovals, iptablesSaveArgv } from "../netfilter/masquerade-iptables";

/**
 * ipMasq for the plugins that offer it (bridge, veth-routed): which backend, the ADD operations,
 * and DEL, GC and CHECK across both backends.
 */
export type MasqBackend = "nftables" | "iptables";

/** `ipMasqBackend`, or when unset nftables if `nft` is installed, else iptables. */
export const masqBackend = (configured?: MasqBackend): MasqBackend => configured ?? (findExecutable("nft") ? "nftables" : "iptables");

export function masqueradeAddOps(backend: MasqBackend, addresses: string[], a: Attachment): Op[] {
  return backend === "iptables" ? iptablesMasqueradeOps(addresses, a) : [masqueradeOps(addresses, a)];
}

/**
 * Removes the iptables masquerade chains whose tag passes `select`, per family: one iptables-save
 * to find them and one iptables-restore to remove them. Nothing when iptables is not installed.
 */
async function removeIptables(select: (tag: string) => boolean, trace: Tracer): Promise<void> {
  await Promise.all(
    ([4, 6] as const).map(async (family) => {
      if (!findExecutable(family === 4 ? "iptables-save" : "ip6tables-save")) return;
      const dump = await runCommand(iptablesSaveArgv(family));
      if (dump.code !== 0) throw new CniError(ErrorCode.KernelOperationFailed, `cannot read the nat table: ${iptablesSaveArgv(family).join(" ")}`, dump.stderr.trim());
      const lines = iptablesRemovals(dump.stdout, select);
      if (lines.length) await applyPlan([{ tool: "iptables", family, input: iptablesRemovalInput(lines) }], { trace });
    }),
  );
}

/** nftables elements whose tag passes `select`, removed; nothing when nft is not installed. */
async function removeNft(select: (tag: string) => boolean, trace: Tracer): Promise<void> {
  if (!findExecutable("nft")) return;
  for (const [tag, addresses] of await listMasqueraded(runCommand)) {
    // Found by tag, not taken from prevResult: after a repeated DEL an address may be another pod's.
    if (select(tag)) await applyPlan([unmasqueradeOps(addresses)], { trace });
  }
}

/** DEL: an attachment's masquerade, from both backends (the config may have named another at ADD). */
export async function removeMasquerade(a: Attachment, trace: Tracer): Promise<void> {
  const tag = attachmentTag(a);
  await Promise.all([removeNft((t) => t === tag, trace), removeIptables((t) => t === tag, trace)]);
}

/** GC: the masquerade of every attachment of `network` that is not valid; returns the errors. */
export async function gcMasquerade(network: string, valid: Attachment[], trace: Tracer): Promise<string[]> {
  const keep = new Set(valid.map(attachmentTag));
  const stale = (tag: string) => tag.startsWith(`${network}/`) && !keep.has(tag);
  const errors: string[] = [];
  for (const remove of [removeNft, removeIptables]) {
    try {
      await remove(stale, trace);
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  return errors;
}

/** CHECK: what is missing of an attachment's masquerade, or undefined when it is all there. */
export async function missingMasquerade(backend: MasqBackend, a: Attachment, addresses: string[]): Promise<string | undefined> {
  const tag = attachmentTag(a);
  if (backend === "iptables") {
    const dumps = await Promise.all(([4, 6] as const).map((family) => runCommand(iptablesSaveArgv(family))));
    return dumps.some((d) => d.code === 0 && d.stdout.includes(`-j ${chainName(tag)}`)) ? undefined : `iptables masquerade chain for ${a.ifname} is missing`;
  }
  // Compared by address: the entries carry the pod's subnet, a result may give the address alone.
  const ipOf = (a: string) => a.split("/")[0];
  const tagged = ((await listMasqueraded(runCommand)).get(tag) ?? []).map(ipOf);
  const missing = addresses.find((a) => !tagged.includes(ipOf(a)));
  return missing ? `masquerade for ${missing} is missing` : undefined;
}
