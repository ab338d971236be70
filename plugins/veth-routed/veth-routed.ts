import { validAttachments } from "../../shared/cni/attachments";
import { delegate } from "../../shared/cni/delegate";
import { CniError, ErrorCode } from "../../shared/cni/errors";
import { delegateContext, withIpamAdd } from "../../shared/cni/ipam";
import type { Result } from "../../shared/cni/result";
import type { PluginFuncs, Request } from "../../shared/cni/skeleton";
import { applyBestEffort, applyPlan } from "../../shared/kernel/apply";
import { deleteLink } from "../../shared/kernel/ops";
import { netnsState, requireNetns } from "../../shared/kernel/netns";
import { listRoutes } from "../../shared/kernel/query";
import { finishGc } from "../../shared/plugin/gc";
import { formatPrefix, parseIP, parsePrefix } from "../../shared/net/ip";
import { checkFailed, checkPodVeth, hasRoute } from "../../shared/plugin/check-pod";
import { gcMasquerade, masqBackend, missingMasquerade, removeMasquerade } from "../../shared/plugin/ipmasq";
import { hostVethName, randomMac } from "../../shared/plugin/veth";
import { parseVethRoutedConfig, VethRoutedConfig } from "./config";
import { planAdd } from "./plan";

type Req = Request<VethRoutedConfig>;

const attachment = (req: Req) => ({ network: req.network, containerId: req.containerId, ifname: req.ifname });

async function add(req: Req): Promise<Omit<Result, "cniVersion">> {
  const cfg = req.config;
  requireNetns(req.netns);
  return withIpamAdd(cfg.ipamType, delegateContext(req), async (ipam) => {
    const { plan, result } = planAdd({
      cfg,
      network: req.network,
      containerId: req.containerId,
      ifname: req.ifname,
      netns: req.netns,
      hostMac: randomMac(),
      containerMac: randomMac(),
      ipam,
      masqBackend: cfg.ipMasq ? masqBackend(cfg.ipMasqBackend) : undefined,
    });
    await applyPlan(plan, { trace: req.trace });
    return result;
  });
}

/**
 * Best effort and idempotent: deleting the host veth (found by its stable name, no netns
 * needed) takes the pair, the gateway address on it and the return route with it.
 */
async function del(req: Req): Promise<void> {
  const removeLinks = async () => {
    const [host] = await applyBestEffort([deleteLink({ name: hostVethName(req.containerId, req.ifname) })], { trace: req.trace });
    if (host.code !== 0 && req.netns && netnsState(req.netns) === "present") {
      await applyBestEffort([deleteLink({ netns: req.netns, name: req.ifname })], { trace: req.trace });
    }
  };
  await Promise.all([removeLinks(), req.config.ipMasq ? removeMasquerade(attachment(req), req.trace) : undefined]);
  await delegate("DEL", req.config.ipamType, delegateContext(req));
}

/** prevResult against the kernel: the pod side, and on the node the gateway address and the return route. */
async function check(req: Req): Promise<void> {
  await delegate("CHECK", req.config.ipamType, delegateContext(req));
  requireNetns(req.netns);
  if (!req.prevResult) throw new CniError(ErrorCode.InvalidNetworkConfig, "CHECK needs prevResult (the result of ADD)");
  const port = hostVethName(req.containerId, req.ifname);
  const { host, ips } = await checkPodVeth(req.prevResult, req.netns, req.ifname, port);
  const hostAddresses = new Set((host.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`));
  const hostRoutes = await listRoutes(undefined, port);
  const podRoutes = await listRoutes(req.netns);
  for (const ipc of ips) {
    const own = parsePrefix(ipc.address)!;
    const bits = own.ip.family === 4 ? 32 : 128;
    const podHost = formatPrefix({ ip: own.ip, bits });
    if (!hasRoute(hostRoutes, podHost, undefined, port)) checkFailed(`the node's return route to ${podHost} via ${port} is missing`);
    if (ipc.gateway) {
      const gw = formatPrefix({ ip: parseIP(ipc.gateway)!, bits });
      if (!hostAddresses.has(gw)) checkFailed(`the gateway address ${gw} is missing on ${port}`);
      if (!hasRoute(podRoutes, gw, undefined, req.ifname)) checkFailed(`the pod's route to its gateway ${gw} is missing`);
    }
  }
  if (req.config.ipMasq && ips.length) {
    const missing = await missingMasquerade(masqBackend(req.config.ipMasqBackend), attachment(req), ips.map((i) => i.address));
    if (missing) checkFailed(missing);
  }
}

async function gc(req: Req): Promise<void> {
  const errors: string[] = [];
  const attachments = validAttachments(req.raw);
  if (attachments) errors.push(...(await gcMasquerade(req.network, attachments.map((a) => ({ network: req.network, ...a })), req.trace)));
  await finishGc("veth-routed", errors, () => delegate("GC", req.config.ipamType, delegateContext(req)).then(() => undefined));
}

async function status(req: Req): Promise<void> {
  await delegate("STATUS", req.config.ipamType, delegateContext(req));
}

export const vethRoutedPlugin: PluginFuncs<VethRoutedConfig> = { parseConfig: parseVethRoutedConfig, add, del, check, gc, status };
