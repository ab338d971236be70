import { delegate } from "../../shared/cni/delegate";
import { CniError, ErrorCode } from "../../shared/cni/errors";
import { delegateContext, withIpamAdd } from "../../shared/cni/ipam";
import type { Result } from "../../shared/cni/result";
import type { PluginFuncs, Request } from "../../shared/cni/skeleton";
import { applyBestEffort, applyPlan, KernelError } from "../../shared/kernel/apply";
import { deleteLink } from "../../shared/kernel/ops";
import { netnsState, requireNetns } from "../../shared/kernel/netns";
import { findLink, ipJson, listRoutes } from "../../shared/kernel/query";
import { checkFailed, hasRoute } from "../../shared/plugin/check-pod";
import { randomMac } from "../../shared/plugin/veth";
import { formatIP, formatPrefix, parseIP, parsePrefix } from "../../shared/net/ip";
import { MacvlanConfig, parseMacvlanConfig } from "./config";
import { planAdd } from "./plan";

type Req = Request<MacvlanConfig>;

const invalid = (msg: string): never => {
  throw new CniError(ErrorCode.InvalidNetworkConfig, msg);
};

/**
 * The master: `master`, or the interface of the default route (of the pod's namespace with
 * linkInContainer). It must exist, and a configured MTU may not exceed its own.
 */
async function resolveMaster(req: Req): Promise<string> {
  const cfg = req.config;
  const where = cfg.linkInContainer ? req.netns : undefined;
  let master = cfg.master;
  if (!master) {
    const defaults = await ipJson<{ dev?: string }>(where, ["route", "show", "default"]);
    master = defaults.find((r) => r.dev)?.dev ?? (await ipJson<{ dev?: string }>(where, ["-6", "route", "show", "default"])).find((r) => r.dev)?.dev;
    if (!master) invalid(`master: not set, and there is no default route${cfg.linkInContainer ? " in the pod" : ""} to take it from`);
  }
  const link = await findLink(where, master!);
  if (!link) invalid(`master: ${JSON.stringify(master)} does not exist${cfg.linkInContainer ? " in the pod's namespace" : ""}`);
  if (cfg.mtu && cfg.mtu > link!.mtu) invalid(`mtu: ${cfg.mtu} is above the MTU of master ${master} (${link!.mtu})`);
  return master!;
}

async function add(req: Req): Promise<Omit<Result, "cniVersion">> {
  const cfg = req.config;
  requireNetns(req.netns);
  const master = await resolveMaster(req);
  const wire = async (ipam: Pick<Result, "ips" | "routes">) => {
    const { plan, result } = planAdd({ cfg, master, ifname: req.ifname, netns: req.netns, mac: cfg.mac ?? randomMac(), ipam });
    try {
      await applyPlan(plan, { trace: req.trace });
    } catch (e) {
      if (e instanceof KernelError && e.applied > 0) await applyBestEffort([deleteLink({ netns: req.netns, name: req.ifname })], { trace: req.trace });
      if (e instanceof KernelError && e.applied === 0 && cfg.mode === "passthru" && /Invalid argument|Device or resource busy/.test(e.details ?? "")) {
        throw new CniError(ErrorCode.KernelOperationFailed, `macvlan passthru allows one child per master, and ${master} already has one (or cannot take one)`, e.details);
      }
      throw e;
    }
    return result;
  };
  return cfg.ipamType ? withIpamAdd(cfg.ipamType, delegateContext(req), wire) : wire({});
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
  await resolveMaster(req);
  const prev = req.prevResult;
  const index = (prev.interfaces ?? []).findIndex((i) => i.name === req.ifname && i.sandbox === req.netns);
  if (index < 0) checkFailed(`prevResult has no interface ${req.ifname} in sandbox ${req.netns}`);
  const link = await findLink(req.netns, req.ifname);
  if (!link) return checkFailed(`interface ${req.ifname} was not found in ${req.netns}`);
  if (link.linkinfo?.info_kind !== "macvlan") checkFailed(`interface ${req.ifname} is a ${link.linkinfo?.info_kind ?? "device"}, not a macvlan`);
  if (link.linkinfo?.info_data?.mode !== cfg.mode) checkFailed(`interface ${req.ifname} is in macvlan mode ${String(link.linkinfo?.info_data?.mode)}, the config says ${cfg.mode}`);
  const wantMac = prev.interfaces![index].mac;
  if (wantMac && link.address?.toLowerCase() !== wantMac.toLowerCase()) checkFailed(`interface ${req.ifname} has MAC ${link.address}, prevResult says ${wantMac}`);
  const present = new Set((link.addr_info ?? []).map((a) => `${formatIP(parseIP(a.local)!)}/${a.prefixlen}`));
  for (const ip of (prev.ips ?? []).filter((i) => i.interface === undefined || i.interface === index)) {
    if (!present.has(formatPrefix(parsePrefix(ip.address)!))) checkFailed(`address ${ip.address} is missing on ${req.ifname}`);
  }
  const routes = await listRoutes(req.netns);
  for (const r of prev.routes ?? []) if (!hasRoute(routes, r.dst, r.gw)) checkFailed(`route to ${r.dst}${r.gw ? ` via ${r.gw}` : ""} is missing in ${req.netns}`);
}

async function gc(req: Req): Promise<void> {
  if (req.config.ipamType) await delegate("GC", req.config.ipamType, delegateContext(req));
}

async function status(req: Req): Promise<void> {
  if (req.config.ipamType) await delegate("STATUS", req.config.ipamType, delegateContext(req));
}

export const macvlanPlugin: PluginFuncs<MacvlanConfig> = { parseConfig: parseMacvlanConfig, add, del, check, gc, status };
