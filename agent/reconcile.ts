import { isIP } from "node:net";
import { formatIP, networkOf, parsePrefix } from "../shared/net/ip";
import type { ConflistSpec } from "./conflist";
import type { KubeNode } from "./kube";
import { errorMessage, type Log, type Notes } from "./log";
import type { MasqSpec } from "./masquerade";
import type { Mode } from "./options";
import type { NodeRoute } from "./routes";

/**
 * Level-triggered reconcile: from the whole current node list, work out what this node should look
 * like (`desiredState`, pure) and make it so (`reconcileOnce`, through the effect modules, each of
 * which changes only what differs). Nothing here reacts to *what* changed, so a missed event or a
 * route deleted by hand is healed by the next run, and the periodic resync guarantees one.
 */

export interface NodeFacts {
  name: string;
  /** Canonical networks, one per family for dual-stack. */
  podCIDRs: string[];
  internalIPs: string[];
  /** What is wrong with the object (a podCIDR that is not a CIDR...). */
  problems: string[];
}

/** spec.podCIDRs (dual-stack: one per family), else the legacy spec.podCIDR; InternalIP addresses. */
export function nodeFacts(node: KubeNode): NodeFacts {
  const name = node.metadata?.name ?? "";
  const problems: string[] = [];
  const given = node.spec?.podCIDRs?.length ? node.spec.podCIDRs : node.spec?.podCIDR ? [node.spec.podCIDR] : [];
  const podCIDRs: string[] = [];
  for (const text of given) {
    const p = parsePrefix(text);
    if (!p) {
      problems.push(`podCIDR ${JSON.stringify(text)} is not a CIDR`);
      continue;
    }
    const net = `${formatIP(networkOf(p))}/${p.bits}`;
    if (!podCIDRs.includes(net)) podCIDRs.push(net);
  }
  const internalIPs: string[] = [];
  for (const a of node.status?.addresses ?? []) {
    if (a.type !== "InternalIP") continue;
    if (isIP(a.address) === 0) problems.push(`InternalIP ${JSON.stringify(a.address)} is not an address`);
    else if (!internalIPs.includes(a.address)) internalIPs.push(a.address);
  }
  return { name, podCIDRs, internalIPs, problems };
}

const familyOfCIDR = (cidr: string): 4 | 6 => (cidr.includes(":") ? 6 : 4);
const familyOfIP = (ip: string): 4 | 6 => (isIP(ip) === 6 ? 6 : 4);

export interface DesiredInput {
  nodeName: string;
  mode: Mode;
  /** Already resolved: the override or the uplink's. */
  mtu: number;
  portmap: boolean;
  dataDir: string;
  masquerade: boolean;
  clusterCIDRs: string[];
}

export type DesiredState =
  | { state: "waiting"; reason: string; notes: string[] }
  | { state: "ready"; conflist: ConflistSpec; routes: NodeRoute[]; masq: MasqSpec | undefined; notes: string[] };

/** Our node's facts, or why we cannot go on yet. */
export function ownNode(nodes: KubeNode[], nodeName: string): NodeFacts | { waiting: string } {
  const node = nodes.find((n) => n.metadata?.name === nodeName);
  if (!node) return { waiting: `node ${nodeName} is not in the API's node list (check NODE_NAME)` };
  const facts = nodeFacts(node);
  if (facts.podCIDRs.length === 0) return { waiting: `node ${nodeName} has no podCIDR yet: waiting for the controller-manager to allocate one; no conflist until then` };
  return facts;
}

export function desiredState(nodes: KubeNode[], input: DesiredInput): DesiredState {
  // Conditions worth a log line while they last (logged once, see Notes).
  const notes: string[] = [];
  const all = nodes
    .filter((n) => n.metadata?.name)
    .map(nodeFacts)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const f of all) for (const p of f.problems) notes.push(`node ${f.name}: ${p}; ignored`);
  const own = ownNode(nodes, input.nodeName);
  if ("waiting" in own) return { state: "waiting", reason: own.waiting, notes };

  const routes: NodeRoute[] = [];
  for (const other of all) {
    if (other.name === own.name) continue;
    if (other.podCIDRs.length === 0) {
      notes.push(`node ${other.name} has no podCIDR yet: no route to it`);
      continue;
    }
    for (const dst of other.podCIDRs) {
      const via = other.internalIPs.find((ip) => familyOfIP(ip) === familyOfCIDR(dst));
      if (!via) {
        notes.push(`node ${other.name} has no IPv${familyOfCIDR(dst)} InternalIP: no route to its podCIDR ${dst}`);
        continue;
      }
      routes.push({ node: other.name, dst, via });
    }
  }

  const conflist: ConflistSpec = { mode: input.mode, mtu: input.mtu, podCIDRs: own.podCIDRs, dataDir: input.dataDir, portmap: input.portmap };
  const masq: MasqSpec | undefined = input.masquerade
    ? {
        podCIDRs: own.podCIDRs,
        // Pod-to-pod traffic keeps its source address; the rest of the world sees the node's.
        clusterCIDRs: unique([...all.flatMap((f) => f.podCIDRs), ...input.clusterCIDRs]),
        nodeIPs: unique(all.flatMap((f) => f.internalIPs)),
      }
    : undefined;
  return { state: "ready", conflist, routes, masq, notes };
}

const unique = (items: string[]): string[] => [...new Set(items)];

// --- applying it -------------------------------------------------------------------------------

/** The node-side effects, as their modules export them (injected, so tests can fake them). */
export interface Effects {
  installPlugins: typeof import("./install").installPlugins;
  havePortmap: typeof import("./install").havePortmap;
  renderConflist: typeof import("./conflist").renderConflist;
  writeConflist: typeof import("./conflist").writeConflist;
  syncRoutes: typeof import("./routes").syncRoutes;
  syncMasquerade: typeof import("./masquerade").syncMasquerade;
  uplinkMtu: typeof import("./uplink").uplinkMtu;
  writeAgentState: typeof import("./state-file").writeAgentState;
}

export interface ReconcileConfig {
  nodeName: string;
  mode: Mode;
  /** 0: the uplink's. */
  mtu: number;
  masquerade: boolean;
  clusterCIDRs: string[];
  binDir: string;
  confDir: string;
  dataDir: string;
  /** The binary to install (the running one). */
  source: string;
  /** The native shim to install under the plugins' names, when the build has one. */
  shim?: string;
  /** The system-call addon to install beside the binary, when the build has one. */
  addon?: string;
}

export interface ReconcileResult {
  /** Conflist written and everything applied. */
  ready: boolean;
  /** For /readyz and the log when not ready. */
  reason: string;
  /** What this run changed, for one summary line. */
  changes: string[];
}

/**
 * One pass. `nodes` undefined: no LIST has succeeded yet (the plugins can still be installed).
 * Order matters: binaries before the conflist that names them, and the conflist last, because it
 * is what makes kubelet call the node Ready: by then routes and masquerade are in place.
 * Throws on the first effect that fails; nothing is ever torn down here.
 */
export async function reconcileOnce(
  nodes: KubeNode[] | undefined,
  opts: { install: boolean },
  cfg: ReconcileConfig,
  fx: Effects,
  log: Log,
  notes: Notes,
): Promise<ReconcileResult> {
  const changes: string[] = [];
  if (opts.install) {
    const { changed } = await fx.installPlugins({ source: cfg.source, shim: cfg.shim, addon: cfg.addon, binDir: cfg.binDir, log });
    if (changed.length) changes.push(`installed ${changed.join(" ")}`);
  }
  if (!nodes) return { ready: false, reason: "waiting for the first node list from the API server", changes };

  const own = ownNode(nodes, cfg.nodeName);
  notes.set("waiting", "waiting" in own ? [own.waiting] : []);
  if ("waiting" in own) return { ready: false, reason: own.waiting, changes };
  const mtu = cfg.mtu || (await fx.uplinkMtu(own.internalIPs));
  const desired = desiredState(nodes, {
    nodeName: cfg.nodeName,
    mode: cfg.mode,
    mtu,
    portmap: fx.havePortmap(cfg.binDir),
    dataDir: cfg.dataDir,
    masquerade: cfg.masquerade,
    clusterCIDRs: cfg.clusterCIDRs,
  });
  notes.set("nodes", desired.notes);
  if (desired.state === "waiting") return { ready: false, reason: desired.reason, changes };

  const routes = await fx.syncRoutes(desired.routes, log);
  if (routes.added + routes.replaced + routes.removed > 0) changes.push(`routes +${routes.added} ~${routes.replaced} -${routes.removed}`);
  // Routes it could not install (the node is behind a router) syncRoutes has logged, once.
  if (await fx.syncMasquerade(desired.masq, log)) changes.push(desired.masq ? "masquerade rules updated" : "masquerade rules removed");
  // What doctor compares the node with (before the conflist, which makes the node Ready).
  if (fx.writeAgentState(cfg.dataDir, { node: cfg.nodeName, podCIDRs: desired.conflist.podCIDRs, routes: desired.routes }, log)) changes.push("agent state written");
  if (await fx.writeConflist(cfg.confDir, fx.renderConflist(desired.conflist), log)) changes.push(`conflist written (mtu ${mtu}, podCIDRs ${desired.conflist.podCIDRs.join(" ")})`);
  return { ready: true, reason: "ok", changes };
}

// --- when to run it ------------------------------------------------------------------------------

export interface SchedulerOptions {
  /** Waits this long after a request so a burst of events makes one run. */
  settleMs: number;
  /** After a failed run: retry after initial, doubling up to max. */
  retry: { initialMs: number; maxMs: number };
  log: Log;
}

/**
 * Runs reconciles one at a time: requests while one runs are merged into one follow-up run, a
 * failed run is retried with backoff, and shutdown waits for the run in progress.
 */
export class ReconcileScheduler {
  private readonly reasons = new Set<string>();
  private install = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private failures = 0;
  private stopped = false;
  /** When the run in progress started; undefined when idle. */
  runningSince: number | undefined;

  constructor(
    private readonly run: (reasons: string[], install: boolean) => Promise<void>,
    private readonly o: SchedulerOptions,
  ) {}

  request(reason: string, install = false, delayMs = this.o.settleMs): void {
    if (this.stopped) return;
    this.reasons.add(reason);
    this.install ||= install;
    if (this.running || this.timer) return;
    this.timer = setTimeout(() => this.kick(), delayMs);
  }

  private kick(): void {
    this.timer = undefined;
    if (this.running || this.stopped || this.reasons.size === 0) return;
    const reasons = [...this.reasons];
    const install = this.install;
    this.reasons.clear();
    this.install = false;
    this.runningSince = Date.now();
    this.running = this.run(reasons, install).then(
      () => {
        this.failures = 0;
      },
      (e) => {
        const delay = Math.min(this.o.retry.maxMs, this.o.retry.initialMs * 2 ** Math.min(this.failures++, 30));
        this.o.log(`reconcile failed (${describeReasons(reasons)}): ${errorMessage(e)}; retrying in ${delay < 1000 ? `${delay} ms` : `${Math.round(delay / 100) / 10} s`}`);
        // The retry carries the failed run's install, so binaries are not skipped by a failure.
        if (!this.stopped) {
          this.reasons.add("retry after failure");
          this.install ||= install;
          clearTimeout(this.timer);
          this.timer = setTimeout(() => this.kick(), delay);
        }
      },
    );
    void this.running.finally(() => {
      this.running = undefined;
      this.runningSince = undefined;
      if (this.reasons.size > 0 && !this.timer && !this.stopped) this.timer = setTimeout(() => this.kick(), this.o.settleMs);
    });
  }

  /** No new runs; resolves when the run in progress (if any) has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}

export function describeReasons(reasons: string[]): string {
  return reasons.length <= 3 ? reasons.join("; ") : `${reasons.slice(0, 3).join("; ")} and ${reasons.length - 3} more`;
}
