import { interfaceNameProblem } from "../shared/cni/names";
import { Family, formatIP, formatPrefix, networkOf, parseIP, parsePrefix } from "../shared/net/ip";
import type { Log } from "./atomic-file";
import { ip, ipJson, ipJsonMaybe } from "./ip-cmd";

/**
 * Routes to the other nodes' pod CIDRs ("DST via NODE-IP"), each tagged with our own routing
 * protocol number so that we can list exactly ours, delete exactly ours, and never take another
 * program's route for one of ours.
 *
 * 151 is unassigned: iproute2's rt_protos reserves 0-4 for the kernel, 8-18, 42 and 99 for routing
 * daemons, and FRR uses 186-198 (bgp, isis, ospf, rip, eigrp, ...); BIRD uses 12 and Calico's
 * felix 80. `ip route show proto 151` lists patchcord's routes on a node.
 */
export const ROUTE_PROTOCOL = 151;

export type { Log } from "./atomic-file";

export interface NodeRoute {
  node: string;
  dst: string;
  via: string;
}

/** A route with our protocol, as the kernel has it. */
export interface OurRoute {
  family: Family;
  dst: string;
  via?: string;
  metric?: number;
  /** A second route of ours to the same DST (another metric): always removed. */
  duplicate?: boolean;
}

interface KernelRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  metric?: number;
  protocol?: string;
  type?: string;
}

const PROTO = String(ROUTE_PROTOCOL);
const familyFlag = (f: Family): string => (f === 4 ? "-4" : "-6");
const NODE_NAME = /^[a-zA-Z0-9]([a-zA-Z0-9._-]{0,251}[a-zA-Z0-9])?$/;

/** A desired route in canonical text, or why it cannot be one. */
export function checkNodeRoute(r: NodeRoute): { route?: NodeRoute & { family: Family }; problem?: string } {
  if (typeof r.node !== "string" || !NODE_NAME.test(r.node)) return { problem: `node name ${JSON.stringify(r.node)} is not a valid node name` };
  const p = typeof r.dst === "string" ? parsePrefix(r.dst) : undefined;
  if (!p) return { problem: `pod CIDR ${JSON.stringify(r.dst)} is not a CIDR` };
  const dst = formatPrefix({ ip: networkOf(p), bits: p.bits });
  if (dst !== formatPrefix(p)) return { problem: `pod CIDR ${r.dst} has host bits set` };
  if (p.bits === 0) return { problem: `pod CIDR ${r.dst} would be a default route` };
  const via = typeof r.via === "string" ? parseIP(r.via) : undefined;
  if (!via) return { problem: `node address ${JSON.stringify(r.via)} is not an IP address` };
  if (via.family !== p.ip.family) return { problem: `node address ${r.via} is not of the family of pod CIDR ${dst}` };
  return { route: { node: r.node, dst, via: formatIP(via), family: p.ip.family } };
}

/** The kernel's text for a destination ("default", or a bare address for a host route) as a CIDR. */
export function canonicalDst(dst: string, family: Family): string | undefined {
  if (dst === "default") return family === 4 ? "0.0.0.0/0" : "::/0";
  const p = parsePrefix(dst.includes("/") ? dst : `${dst}/${family === 4 ? 32 : 128}`);
  return p && p.ip.family === family ? formatPrefix({ ip: networkOf(p), bits: p.bits }) : undefined;
}

/** `ip -j route show proto N` rows of one family as OurRoutes (the first per DST; the rest duplicates). */
export function parseOurRoutes(rows: KernelRoute[], family: Family): OurRoute[] {
  const seen = new Set<string>();
  const out: OurRoute[] = [];
  for (const row of rows) {
    const dst = canonicalDst(row.dst, family);
    if (!dst) continue;
    const gw = row.gateway ? parseIP(row.gateway) : undefined;
    out.push({ family, dst, via: gw ? formatIP(gw) : undefined, metric: row.metric, duplicate: seen.has(dst) || undefined });
    seen.add(dst);
  }
  return out;
}

export interface RouteDiff {
  /** Already there with the right gateway: nothing to do, nothing to check. */
  unchanged: NodeRoute[];
  /** To add (old undefined) or to point elsewhere (old set), once the gateway is checked. */
  write: { route: NodeRoute & { family: Family }; old?: OurRoute }[];
  /** Ours, for no desired DST (or duplicates). */
  remove: OurRoute[];
  /** Desired routes that cannot be used, with why. */
  invalid: { route: NodeRoute; problem: string }[];
}

/** What a sync has to do, from the desired routes and ours; reads and writes nothing. */
export function diffRoutes(desired: NodeRoute[], ours: OurRoute[]): RouteDiff {
  const diff: RouteDiff = { unchanged: [], write: [], remove: [], invalid: [] };
  const wanted = new Map<string, NodeRoute & { family: Family }>();
  // Sorted by node, so two nodes claiming one pod CIDR always resolve to the same one.
  for (const r of [...desired].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0))) {
    const { route, problem } = checkNodeRoute(r);
    if (!route) diff.invalid.push({ route: r, problem: problem! });
    else if (wanted.has(route.dst)) diff.invalid.push({ route: r, problem: `node ${wanted.get(route.dst)!.node} has the same pod CIDR ${route.dst}` });
    else wanted.set(route.dst, route);
  }
  const current = new Map<string, OurRoute>();
  for (const o of ours) {
    if (o.duplicate || !wanted.has(o.dst)) diff.remove.push(o);
    else current.set(o.dst, o);
  }
  for (const route of wanted.values()) {
    const old = current.get(route.dst);
    if (old && old.via === route.via) diff.unchanged.push({ node: route.node, dst: route.dst, via: route.via });
    else diff.write.push({ route, old });
  }
  return diff;
}

async function listOurs(): Promise<OurRoute[]> {
  const out: OurRoute[] = [];
  for (const family of [4, 6] as const) {
    const rows = await ipJson<KernelRoute>([familyFlag(family), "route", "show", "table", "main", "proto", PROTO]);
    out.push(...parseOurRoutes(rows, family));
  }
  return out;
}

type Reach = { kind: "on-link"; dev: string } | { kind: "gateway"; gateway: string } | { kind: "local" } | { kind: "unreachable"; why: string };

/** How the kernel reaches a node's address now: directly, through a gateway, or not at all. */
async function reach(via: string, family: Family): Promise<Reach> {
  const { rows, error } = await ipJsonMaybe<KernelRoute>([familyFlag(family), "route", "get", via]);
  const row = rows?.[0];
  if (!row) return { kind: "unreachable", why: error || "no route" };
  if (row.type === "local") return { kind: "local" };
  if (row.gateway) return { kind: "gateway", gateway: row.gateway };
  if (!row.dev) return { kind: "unreachable", why: `route type ${row.type ?? "unknown"}` };
  const problem = interfaceNameProblem(row.dev);
  if (problem) return { kind: "unreachable", why: `its device name ${JSON.stringify(row.dev)} ${problem}` };
  return { kind: "on-link", dev: row.dev };
}

/** Routes of other programs (any protocol but ours) to exactly DST in the main table. */
async function foreignRoutes(dst: string, family: Family): Promise<KernelRoute[]> {
  const rows = await ipJson<KernelRoute>([familyFlag(family), "route", "show", "table", "main", "exact", dst]);
  return rows.filter((r) => r.protocol !== PROTO);
}

function deleteArgs(o: OurRoute): string[] {
  // proto N makes the kernel delete only a route of ours, even if another matched DST and metric.
  const args = [familyFlag(o.family), "route", "del", o.dst, "proto", PROTO, "table", "main"];
  if (o.via) args.push("via", o.via);
  if (o.metric !== undefined) args.push("metric", String(o.metric));
  return args;
}

const describeForeign = (f: KernelRoute): string => `proto ${f.protocol ?? "boot"}${f.gateway ? ` via ${f.gateway}` : ""}${f.dev ? ` dev ${f.dev}` : ""}`;

/**
 * Problems are logged when they first appear or change, not on every resync; a problem that goes
 * away and comes back is logged again.
 */
let lastNotes = new Map<string, string>();

function reportNotes(notes: Map<string, string>, log: Log): void {
  for (const [key, line] of notes) if (lastNotes.get(key) !== line) log(line);
  lastNotes = notes;
}

/** Forgets which problems were logged (tests; an agent restart starts fresh anyway). */
export function resetRouteNotes(): void {
  lastNotes = new Map();
}

export async function syncRoutes(desired: NodeRoute[], log: Log): Promise<{ added: number; replaced: number; removed: number; offLink: NodeRoute[] }> {
  const diff = diffRoutes(desired, await listOurs());
  const notes = new Map<string, string>();
  const offLink: NodeRoute[] = [];
  const remove = [...diff.remove];
  let added = 0;
  let replaced = 0;
  for (const { route, problem } of diff.invalid) notes.set(`invalid ${route.node} ${route.dst}`, `ignoring node ${JSON.stringify(route.node)}: ${problem}`);

  for (const { route, old } of diff.write) {
    const { node, dst, via, family } = route;
    const skip = (key: string, line: string) => {
      notes.set(`${key} ${dst}`, line);
      if (old) remove.push(old);
    };
    const path = await reach(via, family);
    if (path.kind === "gateway") {
      offLink.push({ node, dst, via });
      skip("off-link", `node ${node} (${via}) is not on a directly connected network: route ${dst} to it yourself`);
      continue;
    }
    if (path.kind === "unreachable") {
      offLink.push({ node, dst, via });
      skip("unreachable", `node ${node} (${via}) is unreachable (${path.why}): no route to ${dst}`);
      continue;
    }
    if (path.kind === "local") {
      skip("local", `node ${node} (${via}) has an address of this host: no route to ${dst}`);
      continue;
    }
    const foreign = await foreignRoutes(dst, family);
    if (foreign.length) {
      skip("foreign", `someone else routes ${dst} (${foreign.map(describeForeign).join("; ")}): leaving it, not routing it to node ${node} (${via})`);
      continue;
    }
    await ip([familyFlag(family), "route", "replace", dst, "via", via, "dev", path.dev, "proto", PROTO, "table", "main"]);
    if (old) {
      replaced++;
      log(`route ${dst} via ${via} replaced the one via ${old.via ?? "(none)"}: node ${node}'s address changed`);
    } else {
      added++;
      log(`route ${dst} via ${via} added: node ${node}'s pod CIDR`);
    }
  }

  let removed = 0;
  for (const o of remove) {
    if (!(await deleteRoute(o))) continue;
    removed++;
    log(`route ${o.dst}${o.via ? ` via ${o.via}` : ""} removed: ${desired.some((d) => checkNodeRoute(d).route?.dst === o.dst) ? "its node cannot be routed to directly now" : "no node has this pod CIDR"}`);
  }
  reportNotes(notes, log);
  return { added, replaced, removed, offLink };
}

/** Deletes one of our routes; false when it was gone already (a link went down and took it). */
async function deleteRoute(o: Parameters<typeof deleteArgs>[0]): Promise<boolean> {
  try {
    await ip(deleteArgs(o));
    return true;
  } catch (e) {
    if (!/No such process/.test((e as Error).message)) throw e;
    return false;
  }
}

/** Removes every route with our protocol, both families; returns how many. */
export async function removeAllRoutes(log: Log): Promise<number> {
  let removed = 0;
  for (const o of await listOurs()) {
    if (!(await deleteRoute(o))) continue;
    removed++;
    log(`route ${o.dst}${o.via ? ` via ${o.via}` : ""} removed: uninstalling patchcord`);
  }
  resetRouteNotes();
  return removed;
}
