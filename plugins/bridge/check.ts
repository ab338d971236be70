import type { Request } from "../../shared/cni/skeleton";
import { findLink } from "../../shared/kernel/query";
import { runCommand } from "../../shared/kernel/run";
import { listSpoofchecked } from "../../shared/netfilter/spoofcheck";
import { checkFailed, checkPodVeth } from "../../shared/plugin/check-pod";
import { masqBackend, missingMasquerade } from "../../shared/plugin/ipmasq";
import type { BridgeConfig } from "./config";

/**
 * Compares prevResult with the kernel: the pod's interface (name, sandbox, MAC, addresses,
 * routes), its host veth (its peer, a port of the bridge), the bridge, and the netfilter entries.
 * Later plugins may add things; only what is missing or different fails.
 */
export async function checkAttachment(req: Request<BridgeConfig>, hostVeth: string): Promise<void> {
  const cfg = req.config;
  const bridge = await findLink(undefined, cfg.bridge);
  if (!bridge || bridge.linkinfo?.info_kind !== "bridge") checkFailed(`bridge ${cfg.bridge} was not found`);
  if (cfg.promiscMode && !(bridge!.promiscuity ?? 0)) checkFailed(`bridge ${cfg.bridge} is not in promiscuous mode`);
  const { host, ips } = await checkPodVeth(req.prevResult!, req.netns, req.ifname, hostVeth);
  if (host.master !== cfg.bridge) checkFailed(`host veth ${hostVeth} is not a port of ${cfg.bridge}`);
  if (cfg.macspoofchk && !((await listSpoofchecked(runCommand)).get(hostVeth) ?? []).length) checkFailed(`MAC spoof check for ${hostVeth} is missing`);
  if (cfg.ipMasq && ips.length) {
    const attachment = { network: req.network, containerId: req.containerId, ifname: req.ifname };
    const missing = await missingMasquerade(masqBackend(cfg.ipMasqBackend), attachment, ips.map((i) => i.address));
    if (missing) checkFailed(missing);
  }
}
