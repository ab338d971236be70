import { fnv1a64 } from "../shared/hash";
import { runCommand } from "../shared/kernel/run";
import { findExecutable } from "../shared/kernel/which";
import { contains, Family, formatPrefix, networkOf, parseIP, parsePrefix, Prefix } from "../shared/net/ip";
import type { MasqBackend } from "../shared/plugin/ipmasq";
import type { Log } from "./atomic-file";

/**
 * The node's pod masquerade: traffic from this node's pod CIDRs to anywhere outside the cluster's
 * pod CIDRs and nodes leaves with the node's address. It is one object of our own per backend,
 * separate from the plugins' per-attachment ipMasq entries (table inet patchcord):
 *
 *   nftables: table inet patchcord_agent
 *     set pods4, pods6         this node's pod CIDRs (interval sets)
 *     set no_masq4, no_masq6   cluster pod CIDRs and node addresses: never masqueraded
 *     chain postrouting (nat, srcnat): ip saddr @pods4 ip daddr != @no_masq4 masquerade (and 6)
 *   iptables: chain PATCHCORD-AGENT-MASQ in nat, one jump from POSTROUTING;
 *     -d <no-masq> -j RETURN ..., then -s <pod CIDR> -j MASQUERADE (ip6tables for IPv6)
 *
 * A sync reads what is there and writes only when it differs, in one transaction.
 */
export type { Log } from "./atomic-file";

export const MASQ_TABLE = "patchcord_agent";
export const MASQ_CHAIN = "PATCHCORD-AGENT-MASQ";
const JUMP_COMMENT = "patchcord agent: masquerade pod traffic leaving the cluster";

export interface MasqSpec {
  /** This node's pod CIDRs. */
  podCIDRs: string[];
  /** Every node's pod CIDRs and the configured cluster CIDRs. */
  clusterCIDRs: string[];
  /** Every node's InternalIPs: pod-to-node traffic keeps the pod's address. */
  nodeIPs: string[];
  /** Force a backend; by default nftables when `nft` works on this node, else iptables. */
  backend?: MasqBackend;
}

/** Per family: the pod CIDRs that masquerade and the destinations that do not (minimal, sorted). */
export interface MasqPlan {
  family: Family;
  pods: string[];
  noMasq: string[];
}

const sortPrefixes = (ps: Prefix[]): Prefix[] => [...ps].sort((a, b) => (a.ip.value < b.ip.value ? -1 : a.ip.value > b.ip.value ? 1 : a.bits - b.bits));

/** Drops duplicates and prefixes inside others (nft rejects overlapping interval elements). */
export function minimalPrefixes(ps: Prefix[]): string[] {
  const nets = sortPrefixes(ps.map((p) => ({ ip: networkOf(p), bits: p.bits })));
  const kept: Prefix[] = [];
  for (const p of nets) {
    if (kept.some((k) => k.ip.family === p.ip.family && k.bits <= p.bits && contains(k, p.ip))) continue;
    kept.push(p);
  }
  return kept.map(formatPrefix);
}

function parseCIDRs(texts: string[], what: string): Prefix[] {
  return texts.map((t) => {
    const p = typeof t === "string" ? parsePrefix(t) : undefined;
    if (!p) throw new Error(`masquerade: ${what} ${JSON.stringify(t)} is not a CIDR`);
    return p;
  });
}

/** The rules per family, from a spec whose every value is checked first. */
export function planMasquerade(spec: MasqSpec): MasqPlan[] {
  const pods = parseCIDRs(spec.podCIDRs, "pod CIDR");
  const cluster = parseCIDRs(spec.clusterCIDRs, "cluster CIDR");
  const nodes = spec.nodeIPs.map((t) => {
    const ip = typeof t === "string" ? parseIP(t) : undefined;
    if (!ip) throw new Error(`masquerade: node address ${JSON.stringify(t)} is not an IP address`);
    return { ip, bits: ip.family === 4 ? 32 : 128 };
  });
  const plans: MasqPlan[] = [];
  for (const family of [4, 6] as const) {
    const mine = pods.filter((p) => p.ip.family === family);
    if (!mine.length) continue;
    // Our own pod CIDRs are in no_masq too: pod-to-pod on this node keeps its addresses.
    const keep = [...mine, ...cluster, ...nodes].filter((p) => p.ip.family === family);
    plans.push({ family, pods: minimalPrefixes(mine), noMasq: minimalPrefixes(keep) });
  }
  return plans;
}

// ---- nftables ----

/** nft lists a full-length prefix as a bare address; we write it so too. */
const nftElem = (family: Family, cidr: string): string => cidr.replace(family === 4 ? /\/32$/ : /\/128$/, "");
const setType = (f: Family) => (f === 4 ? "ipv4_addr" : "ipv6_addr");
const l3 = (f: Family) => (f === 4 ? "ip" : "ip6");

/** The table's body; the rules' comment carries a hash of it, so a listing tells which version is loaded. */
function nftTableBody(plans: MasqPlan[], stamp: string): string {
  const lines: string[] = [];
  for (const p of plans) {
    lines.push(`\tset pods${p.family} { type ${setType(p.family)}; flags interval; elements = { ${p.pods.map((c) => nftElem(p.family, c)).join(", ")} }; }`);
    lines.push(`\tset no_masq${p.family} { type ${setType(p.family)}; flags interval; elements = { ${p.noMasq.map((c) => nftElem(p.family, c)).join(", ")} }; }`);
  }
  lines.push("\tchain postrouting {", "\t\ttype nat hook postrouting priority srcnat; policy accept;");
  for (const p of plans) lines.push(`\t\t${l3(p.family)} saddr @pods${p.family} ${l3(p.family)} daddr != @no_masq${p.family} masquerade comment "${stamp}"`);
  lines.push("\t}");
  return lines.join("\n");
}

export const nftStamp = (plans: MasqPlan[]): string => `patchcord-agent ${fnv1a64(nftTableBody(plans, ""))}`;

/** One `nft -f -` transaction that replaces our table (and only it) with the wanted one. */
export function nftRuleset(plans: MasqPlan[]): string {
  return [`table inet ${MASQ_TABLE} {}`, `delete table inet ${MASQ_TABLE}`, `table inet ${MASQ_TABLE} {`, nftTableBody(plans, nftStamp(plans)), "}", ""].join("\n");
}

type NftObject = Record<string, Record<string, unknown>>;

/** An element of an `nft -j` set listing as a CIDR ("a-b" for a range, which we never write). */
function elemText(e: unknown, family: Family): string {
  if (typeof e === "string") return `${e}/${family === 4 ? 32 : 128}`;
  const o = e as { prefix?: { addr: string; len: number }; range?: [string, string]; elem?: { val: unknown } };
  if (o?.prefix) return `${o.prefix.addr}/${o.prefix.len}`;
  if (o?.elem) return elemText(o.elem.val, family);
  if (o?.range) return `${o.range[0]}-${o.range[1]}`;
  return JSON.stringify(e);
}

function sameList(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  const sortedB = [...b].sort();
  return [...a].sort().every((x, i) => x === sortedB[i]);
}

/** Whether `nft -j list table inet patchcord_agent` shows exactly the table `plans` describes. */
export function nftTableMatches(listing: { nftables?: NftObject[] }, plans: MasqPlan[]): boolean {
  const stamp = nftStamp(plans);
  const wantSets = new Map<string, { family: Family; elems: string[] }>();
  for (const p of plans) {
    wantSets.set(`pods${p.family}`, { family: p.family, elems: p.pods });
    wantSets.set(`no_masq${p.family}`, { family: p.family, elems: p.noMasq });
  }
  let sets = 0;
  let chains = 0;
  let rules = 0;
  for (const obj of listing.nftables ?? []) {
    const [kind, v] = Object.entries(obj)[0] ?? [];
    if (kind === "metainfo" || kind === "table") continue;
    if (kind === "set") {
      const want = wantSets.get(String(v.name));
      if (!want || v.type !== setType(want.family)) return false;
      const elems = ((v.elem as unknown[]) ?? []).map((e) => elemText(e, want.family));
      if (!sameList(elems, want.elems)) return false;
      sets++;
    } else if (kind === "chain") {
      if (v.name !== "postrouting" || v.type !== "nat" || v.hook !== "postrouting" || v.prio !== 100 || v.policy !== "accept") return false;
      chains++;
    } else if (kind === "rule") {
      if (v.chain !== "postrouting" || v.comment !== stamp) return false;
      rules++;
    } else {
      return false;
    }
  }
  return sets === wantSets.size && chains === 1 && rules === plans.length;
}

async function nft(args: string[], input = ""): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCommand([findExecutable("nft") ?? "nft", ...args], input);
}

const nftMissingTable = (stderr: string) => /No such file or directory|does not exist/.test(stderr);

/** Our table as `nft -j` lists it, or undefined when there is none. */
async function listNftTable(): Promise<{ nftables?: NftObject[] } | undefined> {
  const r = await nft(["-j", "list", "table", "inet", MASQ_TABLE]);
  if (r.code !== 0) {
    if (nftMissingTable(r.stderr)) return undefined;
    throw new Error(`nft list table inet ${MASQ_TABLE}: ${r.stderr.trim()}`);
  }
  return JSON.parse(r.stdout);
}

async function syncNft(plans: MasqPlan[], log: Log, why: string): Promise<boolean> {
  const listed = await listNftTable();
  if (listed && nftTableMatches(listed, plans)) return false;
  const r = await nft(["-f", "-"], nftRuleset(plans));
  if (r.code !== 0) throw new Error(`nft -f - (table inet ${MASQ_TABLE}): ${r.stderr.trim()}`);
  log(`${listed ? "rewrote" : "created"} nftables table inet ${MASQ_TABLE}: ${why}`);
  return true;
}

async function removeNft(log: Log): Promise<boolean> {
  if (!findExecutable("nft")) return false;
  if (!(await listNftTable())) return false;
  // Creating it first makes the delete succeed even if something removed it meanwhile.
  const r = await nft(["-f", "-"], `table inet ${MASQ_TABLE} {}\ndelete table inet ${MASQ_TABLE}\n`);
  if (r.code !== 0) throw new Error(`nft delete table inet ${MASQ_TABLE}: ${r.stderr.trim()}`);
  log(`removed nftables table inet ${MASQ_TABLE}: ${MASQ_REMOVED_WHY}`);
  return true;
}

// ---- iptables ----

/** Our chain as `iptables -S CHAIN` prints it. */
export function iptablesChainLines(plan: MasqPlan): string[] {
  return [`-N ${MASQ_CHAIN}`, ...plan.noMasq.map((d) => `-A ${MASQ_CHAIN} -d ${d} -j RETURN`), ...plan.pods.map((s) => `-A ${MASQ_CHAIN} -s ${s} -j MASQUERADE`)];
}

const JUMP = `-A POSTROUTING -m comment --comment "${JUMP_COMMENT}" -j ${MASQ_CHAIN}`;
const isJump = (line: string) => line.startsWith("-A POSTROUTING ") && line.endsWith(` -j ${MASQ_CHAIN}`);

/**
 * The iptables-restore --noflush input that makes our chain `plan`'s: declaring the chain flushes
 * it (or creates it), then its rules, and exactly one POSTROUTING jump.
 */
export function iptablesSyncInput(plan: MasqPlan, jumps: string[]): string {
  const lines = ["*nat", `:${MASQ_CHAIN} - [0:0]`, ...iptablesChainLines(plan).slice(1)];
  if (!jumps.length) lines.push(JUMP);
  for (const extra of jumps.slice(1)) lines.push(extra.replace(/^-A /, "-D "));
  return [...lines, "COMMIT", ""].join("\n");
}

/** Jumps first (a chain still jumped to cannot go), then flush by declaring it, then delete. */
export function iptablesRemovalInput(jumps: string[]): string {
  return ["*nat", ...jumps.map((j) => j.replace(/^-A /, "-D ")), `:${MASQ_CHAIN} - [0:0]`, `-X ${MASQ_CHAIN}`, "COMMIT", ""].join("\n");
}

const tool = (family: Family, name: "iptables" | "iptables-restore") => (family === 4 ? name : name.replace("iptables", "ip6tables"));

async function iptablesState(family: Family): Promise<{ chain?: string[]; jumps: string[] } | undefined> {
  const bin = findExecutable(tool(family, "iptables"));
  if (!bin) return undefined;
  const chain = await runCommand([bin, "-w", "-t", "nat", "-S", MASQ_CHAIN]);
  const post = await runCommand([bin, "-w", "-t", "nat", "-S", "POSTROUTING"]);
  const lines = (text: string) => text.split("\n").map((l) => l.trim()).filter(Boolean);
  return { chain: chain.code === 0 ? lines(chain.stdout) : undefined, jumps: post.code === 0 ? lines(post.stdout).filter(isJump) : [] };
}

async function iptablesRestore(family: Family, input: string): Promise<void> {
  const name = tool(family, "iptables-restore");
  const bin = findExecutable(name);
  if (!bin) throw new Error(`masquerade: ${name} is not installed`);
  const r = await runCommand([bin, "-w", "--noflush"], input);
  if (r.code !== 0) throw new Error(`${name} --noflush: ${r.stderr.trim()}\n${input}`);
}

async function syncIptables(plans: MasqPlan[], log: Log, why: string): Promise<boolean> {
  let changed = false;
  for (const family of [4, 6] as const) {
    const plan = plans.find((p) => p.family === family);
    const state = await iptablesState(family);
    if (!plan) {
      if (state?.chain || state?.jumps.length) {
        await iptablesRemovalInputApply(family, state.jumps, log, `this node has no IPv${family} pod CIDR`);
        changed = true;
      }
      continue;
    }
    if (!state) throw new Error(`masquerade: ${tool(family, "iptables")} is not installed`);
    const want = iptablesChainLines(plan);
    if (state.chain && sameOrder(state.chain, want) && state.jumps.length === 1) continue;
    await iptablesRestore(family, iptablesSyncInput(plan, state.jumps));
    log(`${state.chain ? "rewrote" : "created"} ${tool(family, "iptables")} nat chain ${MASQ_CHAIN}: ${why}`);
    changed = true;
  }
  return changed;
}

const sameOrder = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

async function iptablesRemovalInputApply(family: Family, jumps: string[], log: Log, why: string): Promise<void> {
  await iptablesRestore(family, iptablesRemovalInput(jumps));
  log(`removed ${tool(family, "iptables")} nat chain ${MASQ_CHAIN}: ${why}`);
}

async function removeIptables(log: Log): Promise<boolean> {
  let changed = false;
  for (const family of [4, 6] as const) {
    const state = await iptablesState(family);
    if (!state || (!state.chain && !state.jumps.length)) continue;
    await iptablesRemovalInputApply(family, state.jumps, log, MASQ_REMOVED_WHY);
    changed = true;
  }
  return changed;
}

// ---- both ----

const MASQ_REMOVED_WHY = "masquerade is off";

let nftWorks: boolean | undefined;

/** nftables when `nft` is installed and can list this namespace's ruleset, else iptables. */
export async function agentMasqBackend(): Promise<MasqBackend> {
  if (nftWorks === undefined) nftWorks = Boolean(findExecutable("nft")) && (await nft(["list", "tables"])).code === 0;
  return nftWorks ? "nftables" : "iptables";
}

/** The backend whose leftovers this process has cleared (after a switch of backend, once). */
let clearedOtherThan: MasqBackend | undefined;

export async function syncMasquerade(spec: MasqSpec | undefined, log: Log): Promise<boolean> {
  if (!spec) return removeMasquerade(log);
  const plans = planMasquerade(spec);
  const backend = spec.backend ?? (await agentMasqBackend());
  let changed = false;
  if (clearedOtherThan !== backend) {
    const other = backend === "nftables" ? removeIptables : removeNft;
    changed = await other((line) => log(`${line} (now using ${backend})`));
    clearedOtherThan = backend;
  }
  if (!plans.length) {
    // No pod CIDR yet: nothing can be masqueraded, and nothing of ours should remain.
    return (await (backend === "nftables" ? removeNft : removeIptables)(log)) || changed;
  }
  const why = `traffic from ${plans.flatMap((p) => p.pods).join(", ")} leaves with the node's address, except to ${plans.flatMap((p) => p.noMasq).join(", ")}`;
  return (await (backend === "nftables" ? syncNft(plans, log, why) : syncIptables(plans, log, why))) || changed;
}

/** Removes our table and chains from both backends; returns whether anything was there. */
export async function removeMasquerade(log: Log): Promise<boolean> {
  const a = await removeNft(log);
  const b = await removeIptables(log);
  clearedOtherThan = undefined;
  return a || b;
}
