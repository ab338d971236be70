import { delegate } from "../../shared/cni/delegate";
import { CniError, ErrorCode } from "../../shared/cni/errors";
import { delegateContext, withIpamAdd } from "../../shared/cni/ipam";
import type { Result } from "../../shared/cni/result";
import type { PluginFuncs, Request } from "../../shared/cni/skeleton";
import { requireNetns } from "../../shared/kernel/netns";
import { applySublinkPlan, deleteSublink, ipamOnly } from "../../shared/plugin/sublink";
import { checkPodSublink } from "../../shared/plugin/check-pod";
import { resolveMaster } from "../../shared/plugin/master";
import { IpvlanConfig, parseIpvlanConfig } from "./config";
import { planAdd } from "./plan";

type Req = Request<IpvlanConfig>;

/**
 * The master: `master`; chained after another plugin, the single named interface of prevResult
 * (as the reference); else the interface of the default route.
 */
async function masterOf(req: Req) {
  let master = req.config.master;
  if (!master && req.command === "ADD" && req.prevResult) {
    const named = (req.prevResult.interfaces ?? []).filter((i) => i.name);
    if (named.length !== 1) throw new CniError(ErrorCode.InvalidNetworkConfig, "master: not set, and prevResult does not have exactly one interface to take it from");
    master = named[0].name;
  }
  return resolveMaster({ master, mtu: req.config.mtu, inNetns: req.config.linkInContainer ? req.netns : undefined });
}

async function add(req: Req): Promise<Omit<Result, "cniVersion">> {
  const cfg = req.config;
  requireNetns(req.netns);
  const master = await masterOf(req);
  const wire = async (ipam: Pick<Result, "ips" | "routes">) => {
    const { plan, result } = planAdd({ cfg, master: master.name, masterMac: master.link.address ?? "", ifname: req.ifname, netns: req.netns, ipam });
    await applySublinkPlan(req, plan);
    return result;
  };
  if (cfg.ipamType) return withIpamAdd(cfg.ipamType, delegateContext(req), wire);
  // Chained without IPAM: the addresses come from the previous plugin, as the reference does.
  return wire({ ips: req.prevResult?.ips, routes: req.prevResult?.routes });
}

async function check(req: Req): Promise<void> {
  const cfg = req.config;
  if (cfg.ipamType) await delegate("CHECK", cfg.ipamType, delegateContext(req));
  requireNetns(req.netns);
  if (!req.prevResult) throw new CniError(ErrorCode.InvalidNetworkConfig, "CHECK needs prevResult (the result of ADD)");
  if (cfg.master) await masterOf(req);
  await checkPodSublink(req.prevResult, req.netns, req.ifname, "ipvlan", cfg.mode);
}

export const ipvlanPlugin: PluginFuncs<IpvlanConfig> = { parseConfig: parseIpvlanConfig, add, del: deleteSublink, check, gc: ipamOnly("GC"), status: ipamOnly("STATUS") };
