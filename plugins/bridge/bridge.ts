import { validAttachments } from "../../shared/cni/attachments";
import { delegate } from "../../shared/cni/delegate";
import { CniError, ErrorCode } from "../../shared/cni/errors";
import { delegateContext, withIpamAdd } from "../../shared/cni/ipam";
import type { Result } from "../../shared/cni/result";
import type { PluginFuncs, Request } from "../../shared/cni/skeleton";
import { applyBestEffort, applyPlan, undoOps } from "../../shared/kernel/apply";
import { deleteLink, setSysctl, sysctlPath } from "../../shared/kernel/ops";
import { findLink, LinkInfo } from "../../shared/kernel/query";
import { inNetns, netnsState, requireNetns } from "../../shared/kernel/netns";
import { fs } from "../../shared/lazy";
import { runCommand } from "../../shared/kernel/run";
import { listSpoofchecked, unspoofcheckOps } from "../../shared/netfilter/spoofcheck";
import { finishGc } from "../../shared/plugin/gc";
import { gcMasquerade, removeMasquerade } from "../../shared/plugin/ipmasq";
import { BridgeConfig, parseBridgeConfig } from "./config";
import { checkAttachment } from "./check";
import { addInputFor, BridgeState, GatewayLinkState, hostVethName, planAdd, planCreateBridge, planVlanGateway, randomMac, vlanGatewayNames } from "./plan";

type Req = Request<BridgeConfig>;

const attachment = (req: Req) => ({ network: req.network, containerId: req.containerId, ifname: req.ifname });
const attachmentOf = (req: Req) => ({ ...attachment(req), netns: req.netns });

export const globalAddresses = (link: LinkInfo): string[] => (link.addr_info ?? []).filter((a) => a.scope === "global").map((a) => `${a.local}/${a.prefixlen}`);

export function bridgeState(link: LinkInfo, name: string): BridgeState {
  if (link.linkinfo?.info_kind !== "bridge") {
    throw new CniError(ErrorCode.InvalidNetworkConfig, `${JSON.stringify(name)} already exists but is not a bridge (it is ${link.linkinfo?.info_kind ?? "a plain device"})`);
  }
  return {
    mac: link.address ?? "",
    addresses: globalAddresses(link),
    vlanFiltering: link.linkinfo?.info_data?.vlan_filtering === 1,
    promisc: (link.promiscuity ?? 0) > 0,
  };
}

/**
 * The bridge, created when missing with a fixed MAC (so it does not follow its lowest port's MAC
 * as pods come and go). Two pods racing to create it both end up using it; it is never removed.
 */
async function ensureBridge(req: Req, lookup: Promise<LinkInfo | undefined>): Promise<BridgeState> {
  const cfg = req.config;
  const existing = await lookup;
  if (existing) {
    const state = bridgeState(existing, cfg.bridge);
    await keepRouterAdvertisementsOff(req);
    return state;
  }
  try {
    await applyPlan(planCreateBridge(cfg, randomMac()), { trace: req.trace });
  } catch (e) {
    if (!/File exists/.test((e as CniError).details ?? "")) throw e;
  }
  const created = await findLink(undefined, cfg.bridge);
  if (!created) throw new CniError(ErrorCode.KernelOperationFailed, `bridge ${JSON.stringify(cfg.bridge)} vanished right after it was created`);
  return bridgeState(created, cfg.bridge);
}

/**
 * planCreateBridge turns router advertisements off right after creating the bridge; an ADD killed
 * between the two left a bridge that accepts them, so an existing bridge that does gets them
 * turned off (as the reference does on every ADD). Reading the sysctl costs no process, and a
 * bridge already right (nearly always) gets no extra step.
 */
async function keepRouterAdvertisementsOff(req: Req): Promise<void> {
  const key = `net/ipv6/conf/${req.config.bridge}/accept_ra`;
  let value: string;
  try {
    // /proc/sys/net shows the namespace of the thread that opens it: the host side's.
    value = inNetns(undefined, () => fs().readFileSync(sysctlPath(key), "utf8").trim());
  } catch {
    return; // no IPv6 on this node
  }
  if (value !== "0") await applyPlan([setSysctl({ key, value: 0, optional: true })], { trace: req.trace });
}

/**
 * With `vlan` and `isGateway`: the `<bridge>.<vlan>` veth whose peer is a bridge port in the VLAN,
 * created once (a pod racing to create it too finds it made) and never removed, like the bridge.
 */
async function ensureVlanGateway(req: Req): Promise<GatewayLinkState> {
  const { name } = vlanGatewayNames(req.config.bridge, req.config.vlan);
  let link = await findLink(undefined, name);
  if (!link) {
    try {
      await applyPlan(planVlanGateway(req.config), { trace: req.trace });
    } catch (e) {
      if (!/File exists/.test((e as CniError).details ?? "")) throw e;
    }
    link = await findLink(undefined, name);
    if (!link) throw new CniError(ErrorCode.KernelOperationFailed, `VLAN gateway link ${name} vanished right after it was created`);
  }
  return { name, mac: link.address ?? "", addresses: globalAddresses(link) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * With `enabledad`, the pod's IPv6 addresses are usable only once duplicate address detection
 * has passed: wait for that (up to 5 s, as the reference), and fail if an address is a duplicate.
 */
async function waitForDad(netns: string, ifname: string): Promise<void> {
  for (let waited = 0; ; waited += 50) {
    const link = await findLink(netns, ifname);
    const v6 = (link?.addr_info ?? []).filter((a) => a.family === "inet6" && a.scope === "global");
    const failed = v6.find((a) => a.dadfailed);
    if (failed) throw new CniError(ErrorCode.KernelOperationFailed, `IPv6 address ${failed.local} of ${ifname} is already in use on the network (DAD failed)`);
    if (!v6.some((a) => a.tentative)) return;
    if (waited >= 5000) throw new CniError(ErrorCode.TryAgainLater, `IPv6 duplicate address detection on ${ifname} did not finish within 5 s`);
    await sleep(50);
  }
}

async function add(req: Req): Promise<Omit<Result, "cniVersion">> {
  const cfg = req.config;
  requireNetns(req.netns);
  // Look the bridge up while IPAM works: the two are independent, and the lookup is a process.
  const lookup = findLink(undefined, cfg.bridge);
  lookup.catch(() => undefined); // awaited (and reported) in ensureBridge; IPAM may fail first
  const wire = async (ipam: Pick<Result, "ips" | "routes" | "dns">) => {
    req.trace.write([`# IPAM ${cfg.ipamType ?? "(none)"} ADD done`]);
    const bridge = await ensureBridge(req, lookup);
    const gatewayLink = cfg.isGateway && cfg.vlan ? await ensureVlanGateway(req) : undefined;
    const { plan, result } = planAdd(addInputFor(cfg, attachmentOf(req), bridge, ipam, gatewayLink));
    await applyPlan(plan, { trace: req.trace });
    if (cfg.enabledad && result.ips?.some((i) => i.address.includes(":"))) {
      try {
        await waitForDad(req.netns, req.ifname);
      } catch (e) {
        await undoOps(plan, { trace: req.trace });
        throw e;
      }
    }
    return result;
  };
  return cfg.ipamType ? withIpamAdd(cfg.ipamType, delegateContext(req), wire) : wire({});
}

/**
 * Best effort and idempotent: the pod's veth (found by its stable host name, so no netns is
 * needed), its masquerade elements and its IPAM reservation. The bridge stays for other pods.
 */
async function del(req: Req): Promise<void> {
  const cfg = req.config;
  const port = hostVethName(req.containerId, req.ifname);
  const removeLinks = async () => {
    const [hostResult] = await applyBestEffort([deleteLink({ name: port })], { trace: req.trace });
    // A pod wired by another implementation has another host name: remove its interface in the pod.
    if (hostResult.code !== 0 && req.netns && netnsState(req.netns) === "present") {
      await applyBestEffort([deleteLink({ netns: req.netns, name: req.ifname })], { trace: req.trace });
    }
  };
  const removeSpoofcheck = async () => {
    const macs = (await listSpoofchecked(runCommand)).get(port) ?? [];
    if (macs.length) await applyPlan(macs.map((mac) => unspoofcheckOps(port, mac)), { trace: req.trace });
  };
  // Independent of each other, and deleting a veth waits on the kernel for tens of milliseconds.
  await Promise.all([removeLinks(), cfg.macspoofchk ? removeSpoofcheck() : undefined, cfg.ipMasq ? removeMasquerade(attachment(req), req.trace) : undefined]);
  if (cfg.ipamType) await delegate("DEL", cfg.ipamType, delegateContext(req));
}

async function check(req: Req): Promise<void> {
  const cfg = req.config;
  if (cfg.ipamType) await delegate("CHECK", cfg.ipamType, delegateContext(req));
  requireNetns(req.netns);
  if (!req.prevResult) throw new CniError(ErrorCode.InvalidNetworkConfig, "CHECK needs prevResult (the result of ADD)");
  await checkAttachment(req, hostVethName(req.containerId, req.ifname));
}

/** Removes masquerade elements of this network whose attachment is not valid any more; then IPAM GC. */
async function gc(req: Req): Promise<void> {
  const cfg = req.config;
  const errors: string[] = [];
  const attachments = validAttachments(req.raw);
  if (attachments) errors.push(...(await gcMasquerade(req.network, attachments.map((a) => ({ network: req.network, ...a })), req.trace)));
  const ipamType = cfg.ipamType;
  await finishGc("bridge", errors, ipamType ? () => delegate("GC", ipamType, delegateContext(req)).then(() => undefined) : undefined);
}

async function status(req: Req): Promise<void> {
  if (req.config.ipamType) await delegate("STATUS", req.config.ipamType, delegateContext(req));
}

export const bridgePlugin: PluginFuncs<BridgeConfig> = { parseConfig: parseBridgeConfig, add, del, check, gc, status };
