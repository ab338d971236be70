import { netnsState } from "../shared/kernel/netns";
import { formatPrefix } from "../shared/net/ip";
import { checkLinks, checkOrphanVeths, checkPodPresence, podCondition } from "./checks/links";
import { checkMasquerade } from "./checks/masquerade";
import { checkMtu } from "./checks/mtu";
import { checkRpFilter } from "./checks/rp-filter";
import { checkForwarding, checkGateways, checkNodeRoutes, checkReturnRoutes } from "./checks/routing";
import { lookAtConflists } from "./conflists";
import type { Check, CheckContext, PodCondition } from "./context";
import { CannotLook, Finding } from "./finding";
import { Look } from "./look";
import { Network, networksOf } from "./networks";
import { readNode } from "./node";
import type { DoctorOptions } from "./options";
import { locatePods, Pod, podsFromStores } from "./pods";
import { probe, ProbeReport } from "./probe";

export interface Report {
  node: string;
  confDir: string;
  /** The runtime's pick. */
  conflist?: string;
  networks: { name: string; kind: string; file: string; picked: boolean }[];
  pods: { network: string; containerId: string; ifname: string; addresses: string[]; condition: PodCondition; netns?: string; netnsFrom?: string }[];
  findings: Finding[];
  probe?: ProbeReport;
  /** What doctor could not look at. */
  cannot: string[];
  notes: string[];
  /** Every command doctor ran, in order. */
  commands: string[];
}

// In the order a person hunts: the pods' own links, then the routes both ways, then what is
// between (forwarding, rp_filter, NAT, MTU), then the cluster.
const CHECKS: Check[] = [checkPodPresence, checkOrphanVeths, checkLinks, checkForwarding, checkReturnRoutes, checkGateways, checkRpFilter, checkMasquerade, checkMtu, checkNodeRoutes];

/** Looks at the node and its pods; throws CannotLook when it cannot look at the node at all. */
export async function inspect(o: DoctorOptions, look = new Look()): Promise<Report> {
  if (o.netns) {
    const state = netnsState(o.netns);
    if (state !== "present") throw new CannotLook(`--netns ${o.netns}: ${state === "missing" ? "no such namespace" : "not a network namespace"}`);
  }
  const node = await readNode(look, o.netns);
  const conf = await lookAtConflists(look, o.confDir, o.binDirs);
  const networks: Network[] = networksOf(conf.files);
  const cannot: string[] = [];
  const pods: Pod[] = podsFromStores(networks, o.cacheDir, cannot);
  const notes = await locatePods(look, node, pods, o.pods, cannot);
  const condition = new Map(pods.map((p) => [p, podCondition(p, node)] as const));
  const ctx: CheckContext = { look, node, networks, pods, condition, cannot, notes, agentState: o.agentState };
  const findings = [...conf.findings];
  for (const check of CHECKS) {
    try {
      findings.push(...(await check(ctx)));
    } catch (e) {
      if (!(e instanceof CannotLook)) throw e;
      ctx.cannot.push(e.message);
    }
  }
  let probed: ProbeReport | undefined;
  if (o.probe) {
    const { report, finding } = await probe(look, node, o.probe[0], o.probe[1]);
    probed = report;
    if (finding) findings.push(finding);
  }
  for (const n of networks) if (!n.ipam) notes.push(`network ${n.name}: its IPAM is not host-local, whose store is how doctor finds pods: its pods are not checked`);
  for (const f of conf.files) if (f.list && !f.problem && !networks.some((n) => n.file === f.path)) notes.push(`${f.path}: network ${f.list.name} uses no patchcord interface plugin (${f.list.plugins.map((p) => String(p.type)).join(", ")}): not checked`);
  return {
    node: o.netns ?? "this network namespace",
    confDir: o.confDir,
    conflist: conf.picked?.path,
    networks: networks.map((n) => ({ name: n.name, kind: n.kind, file: n.file, picked: n.picked })),
    pods: pods.map((p) => ({
      network: p.network.name,
      containerId: p.containerId,
      ifname: p.ifname,
      addresses: p.addresses.map((a) => formatPrefix(a.prefix)),
      condition: condition.get(p)!,
      netns: p.netns,
      netnsFrom: p.netnsFrom,
    })),
    findings,
    probe: probed,
    cannot: ctx.cannot,
    notes,
    commands: look.ran,
  };
}

/** 0 nothing wrong, 1 something wrong, 2 could not look (and found nothing). */
export const exitCode = (r: Report): number => (r.findings.length ? 1 : r.cannot.length ? 2 : 0);
