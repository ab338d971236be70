import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { LinkInfo } from "../shared/kernel/query";
import { netnsState } from "../shared/kernel/netns";
import { formatIP, parsePrefix, Prefix } from "../shared/net/ip";
import { canonicalDst } from "../agent/routes";
import { hostVethName } from "../shared/plugin/veth";
import { DiskStore, Reservation } from "../plugins/host-local/store";
import { CannotLook } from "./finding";
import { KernelRoute, Look } from "./look";
import { Network, PodAddress, podAddress } from "./networks";
import { linkNamed, linkNetnsid, NodeView } from "./node";

/** One attachment (container and interface) of a network, as the IPAM store and the runtime know it. */
export interface Pod {
  network: Network;
  containerId: string;
  ifname: string;
  addresses: PodAddress[];
  /** The store's file of each address. */
  storeFiles: string[];
  /** The node's end of the pod's veth (bridge and veth-routed). */
  hostIf?: string;
  /** The libcni cache entry, when the runtime keeps one. */
  cacheFile?: string;
  /** The pod's namespace and where doctor learnt it. */
  netns?: string;
  netnsFrom?: "runtime cache" | "--pod" | "host veth peer";
  netnsState?: "present" | "missing" | "not-a-netns";
  /** What doctor read inside the namespace, when it is there. */
  inside?: { links: LinkInfo[]; routes: KernelRoute[] };
}

export const podLabel = (p: Pod): string => `pod ${p.addresses.map((a) => formatIP(a.ip)).join(", ") || "(no address)"} (container ${p.containerId}, ${p.ifname})`;

interface CachedResult {
  result?: { interfaces?: { name?: string; sandbox?: string }[] };
}

/** libcni's cache entry for one attachment: its file name is `<network>-<container>-<ifname>`. */
function readCache(cacheDir: string, pod: Pod): { file: string; netns?: string; hostIf?: string } | undefined {
  const file = join(cacheDir, "results", `${pod.network.name}-${pod.containerId}-${pod.ifname}`);
  let cached: CachedResult;
  try {
    cached = JSON.parse(readFileSync(file, "utf8")) as CachedResult;
  } catch {
    return undefined;
  }
  const interfaces = cached.result?.interfaces ?? [];
  const sandbox = interfaces.find((i) => i.sandbox && i.name === pod.ifname)?.sandbox ?? interfaces.find((i) => i.sandbox)?.sandbox;
  const host = interfaces.find((i) => !i.sandbox && i.name && i.name !== pod.network.bridge)?.name;
  return { file, netns: sandbox, hostIf: host };
}

/** Every attachment the networks' IPAM stores hold, with what the runtime's cache says of each. */
export function podsFromStores(networks: Network[], cacheDir: string, cannot: string[]): Pod[] {
  const pods: Pod[] = [];
  for (const net of networks) {
    if (!net.ipam) continue;
    const store = new DiskStore(net.ipam.dataDir, net.name);
    const byOwner = new Map<string, Pod>();
    let reservations: Reservation[];
    try {
      reservations = store.reservations();
    } catch (e) {
      cannot.push(`the IPAM store of ${net.name}: ${(e as Error).message}`);
      continue;
    }
    for (const r of reservations) {
      if (!r.owner) continue; // being written by an ADD right now
      const ifname = r.owner.ifname ?? "eth0";
      const key = `${r.owner.id}/${ifname}`;
      let pod = byOwner.get(key);
      if (!pod) {
        pod = { network: net, containerId: r.owner.id, ifname, addresses: [], storeFiles: [] };
        byOwner.set(key, pod);
        pods.push(pod);
      }
      const addr = podAddress(net, r.ip);
      if (addr) pod.addresses.push(addr);
      pod.storeFiles.push(join(store.dir, formatIP(r.ip)));
    }
    for (const pod of byOwner.values()) {
      pod.addresses.sort((a, b) => a.ip.family - b.ip.family);
      if (net.kind === "bridge" || net.kind === "veth-routed") pod.hostIf = hostVethName(pod.containerId, pod.ifname);
      const cached = readCache(cacheDir, pod);
      if (cached) {
        pod.cacheFile = cached.file;
        if (cached.hostIf && pod.hostIf) pod.hostIf = cached.hostIf;
        if (cached.netns) Object.assign(pod, { netns: cached.netns, netnsFrom: "runtime cache" });
      }
    }
  }
  return pods;
}

/**
 * Fills in each pod's namespace (--pod namespaces by the addresses inside them, then the host
 * veth's peer when the runtime's cache did not say) and reads inside the namespaces that are there.
 */
export async function locatePods(look: Look, node: NodeView, pods: Pod[], extra: string[], cannot: string[]): Promise<string[]> {
  const notes: string[] = [];
  for (const path of extra) {
    let state: Pod["netnsState"];
    try {
      state = netnsState(path);
    } catch (e) {
      cannot.push(`--pod ${path}: ${(e as Error).message}`);
      continue;
    }
    if (state !== "present") {
      notes.push(`--pod ${path}: ${state === "missing" ? "no such namespace" : "not a network namespace"}`);
      continue;
    }
    let links: LinkInfo[];
    try {
      links = await look.links(path);
    } catch (e) {
      if (!(e instanceof CannotLook)) throw e;
      cannot.push(`--pod ${path}: ${e.message}`);
      continue;
    }
    const held = new Set(links.flatMap((l) => (l.addr_info ?? []).map((a) => a.local)));
    const mine = pods.filter((p) => p.addresses.some((a) => held.has(formatIP(a.ip))));
    if (!mine.length) notes.push(`--pod ${path}: none of its addresses (${[...held].filter((a) => !a.startsWith("127.") && a !== "::1").join(", ") || "none"}) is in an IPAM store of the conf dir's networks`);
    for (const p of mine) Object.assign(p, { netns: path, netnsFrom: "--pod" });
  }
  let peers: Map<number, string> | undefined;
  for (const p of pods) {
    if (p.netns || !p.hostIf) continue;
    const host = linkNamed(node, p.hostIf);
    const nsid = host && linkNetnsid(host);
    if (nsid === undefined) continue;
    peers ??= await look.namedNamespaces(node.netns);
    const path = peers.get(nsid);
    if (path) Object.assign(p, { netns: path, netnsFrom: "host veth peer" });
  }
  for (const p of pods) {
    if (!p.netns) continue;
    try {
      p.netnsState = netnsState(p.netns);
    } catch {
      p.netnsState = "missing";
    }
    if (p.netnsState !== "present") continue;
    try {
      p.inside = { links: await look.links(p.netns), routes: await look.routes(p.netns) };
    } catch (e) {
      // Its checks inside are skipped; those on the node's side still run.
      if (!(e instanceof CannotLook)) throw e;
      cannot.push(`inside ${podLabel(p)}: ${e.message}`);
    }
  }
  return notes;
}

/** A route's destination as the kernel prints it ("default", a bare address) as a prefix. */
export function prefixOfRoute(dst: string, family: 4 | 6): Prefix | undefined {
  const cidr = canonicalDst(dst, family);
  return cidr ? parsePrefix(cidr) : undefined;
}
