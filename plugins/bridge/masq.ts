import { CniError, ErrorCode } from "../../shared/cni/errors";
import type { Tracer } from "../../shared/kernel/trace";
import { applyPlan } from "../../shared/kernel/apply";
import { runCommand } from "../../shared/kernel/run";
import { findExecutable } from "../../shared/kernel/which";
import { chainName, iptablesRemovalInput, iptablesRemovals, iptablesSaveArgv } from "../../shared/netfilter/masquerade-iptables";
import type { BridgeConfig } from "./config";

/** `ipMasqBackend`, or when unset nftables if `nft` is installed, else iptables. */
export function masqBackend(cfg: BridgeConfig): "nftables" | "iptables" {
  return cfg.ipMasqBackend ?? (findExecutable("nft") ? "nftables" : "iptables");
}

/**
 * Removes the iptables masquerade chains whose tag passes `select`, per family: one iptables-save
 * to find them and one iptables-restore to remove them. Nothing when iptables is not installed.
 */
export async function removeIptablesMasquerade(select: (tag: string) => boolean, trace: Tracer): Promise<void> {
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

/** Whether the iptables masquerade chain of `tag` exists (for CHECK). */
export async function hasIptablesMasquerade(tag: string): Promise<boolean> {
  const dumps = await Promise.all(([4, 6] as const).map((family) => runCommand(iptablesSaveArgv(family))));
  return dumps.some((d) => d.code === 0 && d.stdout.includes(`-j ${chainName(tag)}`));
}
