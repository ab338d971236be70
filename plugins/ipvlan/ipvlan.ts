import { delegate } from "../../shared/cni/delegate";
import { CniError, ErrorCode } from "../../shared/cni/errors";
import { delegateContext, withIpamAdd } from "../../shared/cni/ipam";
import type { Result } from "../../shared/cni/result";
import type { PluginFuncs, Request } from "../../shared/cni/skeleton";
import { applyBestEffort, applyPlan, KernelError } from "../../shared/kernel/apply";
import { deleteLink } from "../../shared/kernel/ops";
import { netnsState, requireNetns } from "../../shared/kernel/netns";
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
    try {
      await applyPlan(plan, { trace: req.trace });
    } catch (e) {
      if (e instanceof KernelError && e.applied > 0) await applyBestEffort([deleteLink({ netns: req.netns, name: req.ifname })], { trace: req.trace });
      throw e;
    }
    return result;
  };
  if (cfg.ipamType) return withIpamAdd(cfg.ipamType, delegateContext(req), wire);
  // Chained without IPAM: the addresses come from the previous plugin, as the reference does.
  return wire({ ips: req.prevResult?.ips, routes: req.prevResult?.routes });
}

/** Best effort and idempotent; no master lookup, so DEL works when the master is gone. */
async function del(req: Req): Promise<void> {
  if (req.netns && netnsState(req.netns) === "present") {
    await applyBestEffort([deleteLink({ netns: req.netns, name: req.ifname })], { trace: req.trace });
  }
  if (req.config.ipamType) await delegate("DEL", req.config.ipamType, delegateContext(req));
}

async function check(req: Req): Promise<void> {
  const cfg = req.config;
  if (cfg.ipamType) await delegate("CHECK", cfg.ipamType, delegateContext(req));
  requireNetns(req.netns);
  if (!req.prevResult) throw new CniError(ErrorCode.InvalidNetworkConfig, "CHECK needs prevResult (the result of ADD)");
  if (cfg.master) await masterOf(req);
  await checkPodSublink(req.prevResult, req.netns, req.ifname, "ipvlan", cfg.mode);
}

async function gc(req: Req): Promise<void> {
  if (req.config.ipamType) await delegate("GC", req.config.ipamType, delegateContext(req));
}

async function status(req: Req): Promise<void> {
  if (req.config.ipamType) await delegate("STATUS", req.config.ipamType, delegateContext(req));
}

export const ipvlanPlugin: PluginFuncs<IpvlanConfig> = { parseConfig: parseIpvlanConfig, add, del, check, gc, status };
