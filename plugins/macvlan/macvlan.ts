import { delegate } from "../../shared/cni/delegate";
import { CniError, ErrorCode } from "../../shared/cni/errors";
import { delegateContext, withIpamAdd } from "../../shared/cni/ipam";
import type { Result } from "../../shared/cni/result";
import type { PluginFuncs, Request } from "../../shared/cni/skeleton";
import { KernelError } from "../../shared/kernel/apply";
import { requireNetns } from "../../shared/kernel/netns";
import { applySublinkPlan, deleteSublink, ipamOnly } from "../../shared/plugin/sublink";
import { checkPodSublink } from "../../shared/plugin/check-pod";
import { resolveMaster } from "../../shared/plugin/master";
import { randomMac } from "../../shared/plugin/veth";
import { MacvlanConfig, parseMacvlanConfig } from "./config";
import { planAdd } from "./plan";

type Req = Request<MacvlanConfig>;

/** The master, checked (see shared/plugin/master.ts). */
const masterOf = async (req: Req) =>
  (await resolveMaster({ master: req.config.master, mtu: req.config.mtu, inNetns: req.config.linkInContainer ? req.netns : undefined })).name;

async function add(req: Req): Promise<Omit<Result, "cniVersion">> {
  const cfg = req.config;
  requireNetns(req.netns);
  const master = await masterOf(req);
  const wire = async (ipam: Pick<Result, "ips" | "routes">) => {
    const { plan, result } = planAdd({ cfg, master, ifname: req.ifname, netns: req.netns, mac: cfg.mac ?? randomMac(), ipam });
    try {
      await applySublinkPlan(req, plan);
    } catch (e) {
      if (e instanceof KernelError && e.applied === 0 && cfg.mode === "passthru" && /Invalid argument|Device or resource busy/.test(e.details ?? "")) {
        throw new CniError(ErrorCode.KernelOperationFailed, `macvlan passthru allows one child per master, and ${master} already has one (or cannot take one)`, e.details);
      }
      throw e;
    }
    return result;
  };
  return cfg.ipamType ? withIpamAdd(cfg.ipamType, delegateContext(req), wire) : wire({});
}

async function check(req: Req): Promise<void> {
  const cfg = req.config;
  if (cfg.ipamType) await delegate("CHECK", cfg.ipamType, delegateContext(req));
  requireNetns(req.netns);
  if (!req.prevResult) throw new CniError(ErrorCode.InvalidNetworkConfig, "CHECK needs prevResult (the result of ADD)");
  await masterOf(req);
  await checkPodSublink(req.prevResult, req.netns, req.ifname, "macvlan", cfg.mode);
}

export const macvlanPlugin: PluginFuncs<MacvlanConfig> = { parseConfig: parseMacvlanConfig, add, del: deleteSublink, check, gc: ipamOnly("GC"), status: ipamOnly("STATUS") };
