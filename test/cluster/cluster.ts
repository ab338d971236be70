import { ChildProcess, spawn } from "node:child_process";
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand, RunResult } from "../../shared/kernel/run";
import { BIN, CNITOOL, isRoot, REFERENCE_DIR, ROOT, runId, testIf } from "../integration/helpers";
import { ApiServerProcess } from "./apiserver-process";
import { makeNode } from "./nodes";

/**
 * A Kubernetes cluster on one machine, for the node agent's end-to-end tests.
 *
 *   LAN namespace:  bridge `lan0` (10.250.0.1/24, fd00:250::1/64), the API server stand-in on 10.250.0.1
 *   OUTSIDE:        10.250.0.100, fd00:250::100 on the LAN: a host outside the cluster
 *   node i:         eth0 10.250.0.(10+i), fd00:250::(10+i) on the LAN, default route via the LAN's .1;
 *                   podCIDRs 10.244.i.0/24 and fd00:10:244:i::/64; its own CNI bin, conf and IPAM dirs;
 *                   the real `patchcord agent` with in-cluster config (token files in a private tmpfs)
 *   pods:           namespaces added through the cnitool driver (libcni) with the conflist the agent wrote
 *
 * Every name carries one per-run prefix, every link and address lives in these namespaces, and
 * `destroy()` kills what it started, deletes the namespaces and removes the temp dirs.
 */

export const PATCHCORD = join(BIN, "patchcord");
export { CNITOOL };
export const BUN = join(ROOT, "node_modules/@oven/bun-linux-x64/bin/bun");
export const PORTMAP = join(REFERENCE_DIR, "portmap");

export const API_IP = "10.250.0.1";
export const API_IP6 = "fd00:250::1";
export const API_PORT = 6443;
export const OUTSIDE_IP = "10.250.0.100";
export const OUTSIDE_IP6 = "fd00:250::100";
export const CLUSTER_CIDRS = ["10.244.0.0/16", "fd00:10:244::/56"];
export const HEALTH_PORT = 9099;
export const nodeIP = (i: number): string => `10.250.0.${10 + i}`;
export const nodeIP6 = (i: number): string => `fd00:250::${10 + i}`;
export const podCIDR = (i: number): string => `10.244.${i}.0/24`;
export const podCIDR6 = (i: number): string => `fd00:10:244:${i}::/64`;
/** The plugin binaries the agent installs. */
export const AGENT_BINARIES = ["bridge", "veth-routed", "host-local", "macvlan", "ipvlan"].map((p) => `patchcord-${p}`);
export const CONFLIST = "00-patchcord.conflist";

/** `it` for a cluster test: skipped with the reason where root, the binaries or Bun are missing (failing under CI). */
export function clusterIt(extra: [boolean, string][] = []): jest.It {
  const missing = [
    [isRoot, "root"],
    [existsSync(PATCHCORD), "the built binary (node scripts/build.mjs)"],
    [existsSync(CNITOOL), "dist/cnitool (conformance/cnitool/build.sh)"],
    [existsSync(BUN), "Bun (node_modules/@oven/bun-linux-x64)"],
    ...extra,
  ]
    .filter(([ok]) => !ok)
    .map(([, what]) => what);
  return testIf(missing.length === 0, `the cluster tests need ${missing.join(", ")}`);
}

/** One cluster per test file, destroyed after it, with a check that nothing of it is left. */
export function oneClusterPerFile(): { set(c: Cluster): Cluster } {
  let cluster: Cluster | undefined;
  afterAll(async () => {
    if (!cluster) return;
    await cluster.destroy();
    expect(await cluster.leftovers()).toEqual([]);
  }, 60_000);
  return { set: (c) => (cluster = c) };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function must(...argv: string[]): Promise<string> {
  const r = await runCommand(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

export const sh = (...argv: string[]): Promise<RunResult> => runCommand(argv);

/**
 * argv for spawn() under `setpriv --pdeathsig TERM`: the long-running processes a test starts
 * (agents, listeners, containerd) get SIGTERM should the test process die without its afterAll.
 * Every wrapper in the chain (ip netns exec, nsenter, unshare, sh's exec) execs in place, so the
 * signal reaches the program itself.
 */
export const withParent = (argv: string[]): [string, string[]] => ["setpriv", ["--pdeathsig", "TERM", ...argv]];

/** Polls `probe` every `every` ms until it returns a truthy value or `timeout` ms pass; returns the value or undefined. */
export async function waitFor<T>(probe: () => Promise<T | undefined | false | null>, timeout: number, every = 50): Promise<T | undefined> {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await probe();
    if (v) return v as T;
    if (Date.now() >= end) return undefined;
    await sleep(every);
  }
}

export interface RouteEntry {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  flags?: string[];
}

export interface Pod {
  node: ClusterNode;
  name: string;
  ns: string;
  path: string;
  ip4?: string;
  ip6?: string;
  result: Record<string, unknown>;
}

/** A long-running process the cluster started (agent, listener, API server's helper), with its exit. */
export interface Started {
  child: ChildProcess;
  exited: Promise<number | null>;
  what: string;
}

export class ClusterNode {
  readonly name: string;
  readonly ns: string;
  readonly dir: string;
  readonly binDir: string;
  readonly confDir: string;
  readonly ipamDir: string;
  readonly cacheDir: string;
  readonly log: string;
  readonly ip4: string;
  readonly ip6: string;
  readonly podCIDRs: string[];
  agent?: Started;
  /** Date.now() when the agent was last spawned. */
  agentStartedAt = 0;
  agentRuns = 0;

  constructor(
    readonly cluster: Cluster,
    readonly index: number,
  ) {
    this.name = `node-${index}`;
    this.ns = `${cluster.id}n${index}`;
    this.dir = join(cluster.dir, this.name);
    this.binDir = join(this.dir, "bin");
    this.confDir = join(this.dir, "net.d");
    this.ipamDir = join(this.dir, "ipam");
    this.cacheDir = join(this.dir, "cache");
    this.log = join(this.dir, "agent.log");
    this.ip4 = nodeIP(index);
    this.ip6 = nodeIP6(index);
    this.podCIDRs = cluster.dualStack ? [podCIDR(index), podCIDR6(index)] : [podCIDR(index)];
    for (const d of [this.binDir, this.confDir, this.ipamDir, this.cacheDir]) mkdirSync(d, { recursive: true });
  }

  exec(...argv: string[]): Promise<RunResult> {
    return sh("ip", "netns", "exec", this.ns, ...argv);
  }

  /** The node's routes (both families), from `ip -j route`. */
  async routes(): Promise<RouteEntry[]> {
    const out: RouteEntry[] = [];
    for (const family of ["-4", "-6"]) {
      const r = await sh("ip", "-n", this.ns, "-j", family, "route", "show", "table", "main");
      if (r.code === 0 && r.stdout.trim()) out.push(...(JSON.parse(r.stdout) as RouteEntry[]));
    }
    return out;
  }

  /** The route to `cidr`, if any (dst as ip prints it: 10.244.2.0/24, fd00:10:244:2::/64). */
  async routeTo(cidr: string): Promise<RouteEntry | undefined> {
    return (await this.routes()).find((r) => r.dst === cidr);
  }

  /** The names of the node's nftables tables ("family name"). */
  async nftTables(): Promise<string[]> {
    const r = await this.exec("nft", "-j", "list", "tables");
    if (r.code !== 0) return [];
    const j = JSON.parse(r.stdout) as { nftables: { table?: { family: string; name: string } }[] };
    return j.nftables.filter((e) => e.table).map((e) => `${e.table!.family} ${e.table!.name}`);
  }

  conflistPath(): string {
    return join(this.confDir, CONFLIST);
  }

  conflist(): Record<string, unknown> | undefined {
    try {
      return JSON.parse(readFileSync(this.conflistPath(), "utf8")) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  }

  /** GET http://127.0.0.1:HEALTH_PORT/PATH inside the node: the status code (0 when nothing answers). */
  async health(path: "readyz" | "healthz"): Promise<number> {
    const r = await this.exec("curl", "-s", "-o", "/dev/null", "-m", "2", "-w", "%{http_code}", `http://127.0.0.1:${HEALTH_PORT}/${path}`);
    return Number(r.stdout.trim()) || 0;
  }

  agentLog(): string {
    try {
      return readFileSync(this.log, "utf8");
    } catch {
      return "";
    }
  }

  /** `cnitool COMMAND NETWORK NETNS` in the node: libcni reads the conflist the agent wrote, CNI_PATH is the node's bin dir. */
  cnitool(command: "add" | "del" | "check", network: string, netnsPath: string, env: Record<string, string> = {}): Promise<RunResult> {
    return runCommand(["ip", "netns", "exec", this.ns, CNITOOL, command, network, netnsPath], "", {
      PATH: process.env.PATH,
      NETCONFPATH: this.confDir,
      CNI_PATH: this.binDir,
      CNI_CACHE_DIR: this.cacheDir,
      ...env,
    });
  }
}

export interface ClusterOptions {
  nodes: number;
  dualStack?: boolean;
  /** Node indexes whose bin dir gets the reference portmap (a symlink), for the agent to chain. */
  portmapOn?: number[];
  /** PATCHCORD_RESYNC, seconds. */
  resync?: number;
  /** Extra environment for every agent. */
  agentEnv?: Record<string, string>;
}

export class Cluster {
  readonly id: string;
  readonly dir: string;
  readonly lan: string;
  readonly outside: string;
  readonly apiDir: string;
  readonly agentBinary: string;
  readonly dualStack: boolean;
  readonly resync: number;
  readonly nodes: ClusterNode[] = [];
  api?: ApiServerProcess;
  private readonly processes: Started[] = [];
  private readonly cleanups: (() => Promise<unknown>)[] = [];
  private podCount = 0;

  constructor(readonly options: ClusterOptions) {
    this.id = runId();
    this.dir = mkdtempSync(join(tmpdir(), "pc-cluster-"));
    this.lan = `${this.id}lan`;
    this.outside = `${this.id}out`;
    this.apiDir = join(this.dir, "api");
    mkdirSync(this.apiDir);
    this.dualStack = options.dualStack ?? true;
    this.resync = options.resync ?? 2;
    // The agent runs from a copy: others may rebuild dist/ while the tests run. Its name starts
    // with "patchcord" so that the multi-call binary takes `agent` as its subcommand.
    this.agentBinary = join(this.dir, "patchcord");
    copyFileSync(PATCHCORD, this.agentBinary);
    for (let i = 1; i <= options.nodes; i++) this.nodes.push(new ClusterNode(this, i));
  }

  node(i: number): ClusterNode {
    return this.nodes[i - 1];
  }

  /** Namespaces, LAN, outside host; the nodes' namespaces on the LAN. No API server, no agents yet. */
  async createNetwork(): Promise<void> {
    await this.addNetns(this.lan);
    await must("ip", "-n", this.lan, "link", "add", "lan0", "type", "bridge");
    await must("ip", "-n", this.lan, "addr", "add", `${API_IP}/24`, "dev", "lan0");
    await must("ip", "-n", this.lan, "addr", "add", `${API_IP6}/64`, "dev", "lan0", "nodad");
    await must("ip", "-n", this.lan, "link", "set", "lan0", "up");
    await this.attach(this.outside, "out", OUTSIDE_IP, OUTSIDE_IP6);
    for (const n of this.nodes) {
      await this.attach(n.ns, `n${n.index}`, n.ip4, n.ip6);
      await must("ip", "-n", n.ns, "route", "add", "default", "via", API_IP);
      await must("ip", "-n", n.ns, "-6", "route", "add", "default", "via", API_IP6);
      if ((this.options.portmapOn ?? []).includes(n.index)) await must("ln", "-s", PORTMAP, join(n.binDir, "portmap"));
    }
  }

  private async addNetns(name: string): Promise<void> {
    await must("ip", "netns", "add", name);
    await must("ip", "-n", name, "link", "set", "lo", "up");
  }

  /** A namespace with eth0 on the LAN bridge (the veth made inside the LAN namespace, its peer moved straight into `ns`). */
  private async attach(ns: string, port: string, ip4: string, ip6: string): Promise<void> {
    await this.addNetns(ns);
    await must("ip", "-n", this.lan, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns);
    await must("ip", "-n", this.lan, "link", "set", port, "master", "lan0", "up");
    await must("ip", "-n", ns, "addr", "add", `${ip4}/24`, "dev", "eth0");
    await must("ip", "-n", ns, "addr", "add", `${ip6}/64`, "dev", "eth0", "nodad");
    await must("ip", "-n", ns, "link", "set", "eth0", "up");
  }

  /** The API server stand-in in the LAN namespace, with every node of the cluster registered. */
  async startApi(): Promise<void> {
    this.api = await ApiServerProcess.start({ netns: this.lan, dir: this.apiDir, host: API_IP, port: API_PORT });
    for (const n of this.nodes) await this.api.addNode(this.nodeObject(n.index));
  }

  /** The Node object of node i (the same layout the cluster's own nodes have). */
  nodeObject(i: number, name = `node-${i}`): Record<string, unknown> {
    return makeNode(name, {
      podCIDRs: this.dualStack ? [podCIDR(i), podCIDR6(i)] : [podCIDR(i)],
      internalIPs: this.dualStack ? [nodeIP(i), nodeIP6(i)] : [nodeIP(i)],
    });
  }

  agentEnv(n: ClusterNode): Record<string, string> {
    return {
      PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
      NODE_NAME: n.name,
      KUBERNETES_SERVICE_HOST: API_IP,
      KUBERNETES_SERVICE_PORT: String(API_PORT),
      CNI_BIN_DIR: n.binDir,
      CNI_CONF_DIR: n.confDir,
      PATCHCORD_IPAM_DATA_DIR: n.ipamDir,
      PATCHCORD_RESYNC: String(this.resync),
      PATCHCORD_HEALTH_ADDR: `127.0.0.1:${HEALTH_PORT}`,
      PATCHCORD_CLUSTER_CIDRS: (this.dualStack ? CLUSTER_CIDRS : CLUSTER_CIDRS.slice(0, 1)).join(","),
      ...this.options.agentEnv,
    };
  }

  /**
   * Starts the real agent in node `n`'s namespace, in-cluster style: a private mount namespace
   * with a tmpfs on /run (= /var/run) that holds /var/run/secrets/kubernetes.io/serviceaccount,
   * so nothing of it reaches the host's filesystem. Its output is appended to the node's log.
   */
  startAgent(n: ClusterNode): Started {
    const script = [
      "set -e",
      "mount -t tmpfs -o mode=0755 tmpfs /run",
      "d=/var/run/secrets/kubernetes.io/serviceaccount",
      'mkdir -p "$d"',
      'cp "$1/token" "$1/ca.crt" "$1/namespace" "$d/"',
      "shift",
      'exec "$@"',
    ].join("\n");
    const fd = openSync(n.log, "a");
    n.agentRuns++;
    const child = spawn(...withParent(["ip", "netns", "exec", n.ns, "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", this.apiDir, this.agentBinary, "agent"]), {
      stdio: ["ignore", fd, fd],
      env: this.agentEnv(n),
    });
    closeSync(fd);
    n.agentStartedAt = Date.now();
    n.agent = this.track(child, `agent on ${n.name}`);
    return n.agent;
  }

  /** SIGTERM to the agent (it keeps what it set up), SIGKILL after 5 s; the exit code. */
  async stopAgent(n: ClusterNode): Promise<number | null> {
    const a = n.agent;
    n.agent = undefined;
    if (!a) return null;
    return stop(a, "SIGTERM");
  }

  /** Waits for the node's /readyz to answer 200; the ms since its agent was started, or undefined. */
  async waitReady(n: ClusterNode, timeout = 30_000): Promise<number | undefined> {
    const ok = await waitFor(async () => (await n.health("readyz")) === 200, timeout, 25);
    return ok ? Date.now() - n.agentStartedAt : undefined;
  }

  /** The agent's own `patchcord agent uninstall` in the node (same dir flags, no API needed). */
  uninstall(n: ClusterNode): Promise<RunResult> {
    return runCommand(["ip", "netns", "exec", n.ns, this.agentBinary, "agent", "uninstall", "--cni-bin-dir", n.binDir, "--cni-conf-dir", n.confDir, "--ipam-data-dir", n.ipamDir], "", this.agentEnv(n));
  }

  /** The network name of the conflist in the node's conf dir. */
  networkName(n: ClusterNode): string {
    const files = readdirSync(n.confDir).filter((f) => f.endsWith(".conflist")).sort();
    if (!files.length) throw new Error(`no conflist in ${n.confDir}`);
    return (JSON.parse(readFileSync(join(n.confDir, files[0]), "utf8")) as { name: string }).name;
  }

  /** A pod: a namespace added to the node's network through cnitool (libcni) and the node's conflist. */
  async addPod(n: ClusterNode, name = `p${++this.podCount}`, env: Record<string, string> = {}): Promise<Pod> {
    const ns = `${n.ns}${name}`;
    await this.addNetns(ns);
    const path = `/run/netns/${ns}`;
    const r = await n.cnitool("add", this.networkName(n), path, env);
    if (r.code !== 0) throw new Error(`cnitool add on ${n.name}: exit ${r.code}: ${r.stdout}${r.stderr}`);
    const result = JSON.parse(r.stdout) as { ips?: { address: string }[] };
    const ips = (result.ips ?? []).map((i) => i.address.split("/")[0]);
    return { node: n, name, ns, path, ip4: ips.find((a) => !a.includes(":")), ip6: ips.find((a) => a.includes(":")), result };
  }

  async deletePod(p: Pod): Promise<RunResult> {
    const r = await p.node.cnitool("del", this.networkName(p.node), p.path);
    await sh("ip", "netns", "del", p.ns);
    return r;
  }

  /** `count` pings (one every 200 ms) from a namespace; true when `count` replies came within `count` + 3 s. */
  async ping(fromNs: string, address: string, count = 1): Promise<boolean> {
    const r = await sh("ip", "netns", "exec", fromNs, "ping", "-c", String(count), "-i", "0.2", "-w", String(count + 3), address);
    return r.code === 0;
  }

  /**
   * A "who am I" HTTP listener in `ns` on `port` (both families): it answers every request with the
   * peer address it sees. Resolves once it listens.
   */
  async serveWhoami(ns: string, port: number): Promise<Started> {
    const script = `require("http").createServer((q, r) => r.end(q.socket.remoteAddress.replace(/^::ffff:/, ""))).listen(${port}, "::", () => console.log("listening"))`;
    const child = spawn(...withParent(["ip", "netns", "exec", ns, process.execPath, "-e", script]), { stdio: ["ignore", "pipe", "pipe"] });
    const s = this.track(child, `listener in ${ns}`);
    await new Promise<void>((resolve, reject) => {
      let err = "";
      child.stdout!.on("data", (c: Buffer) => c.toString().includes("listening") && resolve());
      child.stderr!.on("data", (c: Buffer) => (err += c));
      void s.exited.then((code) => reject(new Error(`listener in ${ns} exited ${code}: ${err}`)));
    });
    return s;
  }

  /** Asks the listener at address:port from `fromNs`: the source address it saw (undefined when it does not answer). */
  async whoami(fromNs: string, address: string, port: number): Promise<string | undefined> {
    const host = address.includes(":") ? `[${address}]` : address;
    const r = await sh("ip", "netns", "exec", fromNs, "curl", "-s", "-g", "-m", "3", `http://${host}:${port}/`);
    return r.code === 0 ? r.stdout.trim() : undefined;
  }

  /** Records route changes in a namespace (`ip monitor route`) until stop() returns them. */
  monitorRoutes(ns: string): { stop(): Promise<string> } {
    const child = spawn(...withParent(["ip", "-n", ns, "monitor", "route"]), { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout!.on("data", (c: Buffer) => (out += c));
    const s = this.track(child, `route monitor in ${ns}`);
    return {
      stop: async () => {
        await stop(s, "SIGTERM");
        return out;
      },
    };
  }

  /** A continuous ping from `fromNs` (every 100 ms) until stop(): packets sent and received. */
  pingAlong(fromNs: string, address: string): { stop(): Promise<{ sent: number; received: number; output: string }> } {
    const child = spawn(...withParent(["ip", "netns", "exec", fromNs, "ping", "-i", "0.1", "-W", "1", address]), { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout!.on("data", (c: Buffer) => (out += c));
    const s = this.track(child, `ping from ${fromNs}`);
    return {
      stop: async () => {
        await stop(s, "SIGINT");
        const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(out);
        return { sent: m ? Number(m[1]) : 0, received: m ? Number(m[2]) : 0, output: out };
      },
    };
  }

  /** A cleanup step for destroy() (run first-registered last). */
  onDestroy(fn: () => Promise<unknown>): void {
    this.cleanups.push(fn);
  }

  track(child: ChildProcess, what: string): Started {
    const exited = new Promise<number | null>((resolve) => {
      child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : null)));
      child.on("error", () => resolve(127));
    });
    const s = { child, exited, what };
    this.processes.push(s);
    return s;
  }

  /** Every agent's log, for a failure message. */
  logs(): string {
    return this.nodes.map((n) => `--- ${n.name} agent log (${n.log}):\n${n.agentLog().split("\n").slice(-60).join("\n")}`).join("\n");
  }

  /** Kills what it started, deletes every namespace of this run, removes the temp dir. Safe to call twice. */
  async destroy(): Promise<void> {
    // CLUSTER_LOGS=DIR keeps a copy of every agent's log (the temp dir goes).
    const keep = process.env.CLUSTER_LOGS;
    if (keep) {
      mkdirSync(keep, { recursive: true });
      for (const n of this.nodes) if (existsSync(n.log)) copyFileSync(n.log, join(keep, `${this.id}-${n.name}.log`));
    }
    for (const fn of this.cleanups.splice(0).reverse()) await fn().catch(() => undefined);
    await Promise.all(this.processes.splice(0).map((p) => stop(p, "SIGTERM")));
    if (this.api) await this.api.stop().catch(() => undefined);
    this.api = undefined;
    const list = await sh("ip", "netns", "list");
    const mine = list.stdout
      .split("\n")
      .map((l) => l.split(" ")[0])
      .filter((n) => n.startsWith(this.id));
    // Pods first, then nodes, the outside host, the LAN last.
    for (const ns of mine.sort((a, b) => b.length - a.length)) await sh("ip", "netns", "del", ns);
    if (existsSync(this.dir)) rmSync(this.dir, { recursive: true, force: true });
  }

  /** The namespaces of this run still present (for a leftovers check). */
  async leftovers(): Promise<string[]> {
    const list = await sh("ip", "netns", "list");
    return list.stdout
      .split("\n")
      .map((l) => l.split(" ")[0])
      .filter((n) => n && n.startsWith(this.id));
  }
}

/** Signals a started process and waits for it (SIGKILL after 5 s); its exit code. */
export async function stop(s: Started, signal: NodeJS.Signals): Promise<number | null> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return s.exited;
  s.child.kill(signal);
  const timer = setTimeout(() => s.child.kill("SIGKILL"), 5_000);
  const code = await s.exited;
  clearTimeout(timer);
  return code;
}

/**
 * A real containerd (Debian's 1.6, with runc) inside a node's network namespace, with root, state,
 * socket and opt dirs of its own (temp) and CRI off. It runs in a private mount namespace with a
 * tmpfs on /run, so its shims' sockets (/run/containerd/s/...) never reach the host's /run; it is
 * entered with nsenter --net (not ip netns exec) so that the host's /sys/fs/cgroup, which runc
 * needs, stays mounted.
 *
 * ctr's `--cni` uses go-cni's built-in defaults (conf /etc/cni/net.d, bin /opt/cni/bin, cache
 * /var/lib/cni, none of them configurable in ctr 1.6), so `run()` starts ctr in a private mount
 * namespace of its own in the node (ip netns exec, for a /sys of the node's namespace) where the
 * node's conf dir is bind-mounted on /etc/cni/net.d, its bin dir on /opt/cni/bin (on a tmpfs over
 * /opt, and on /usr/lib/cni: Debian's default) and a tmpfs is mounted on /var/lib (for the cache).
 */
export class Containerd {
  readonly dir: string;
  readonly socket: string;
  readonly fifoDir: string;
  daemon?: Started;

  constructor(
    readonly cluster: Cluster,
    readonly node: ClusterNode,
  ) {
    this.dir = join(cluster.dir, "containerd");
    this.socket = join(this.dir, "containerd.sock");
    this.fifoDir = join(this.dir, "fifo");
    for (const d of ["root", "state", "opt", "fifo"]) mkdirSync(join(this.dir, d), { recursive: true });
  }

  config(): string {
    const d = this.dir;
    return [
      "version = 2",
      `root = "${d}/root"`,
      `state = "${d}/state"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]',
      "[grpc]",
      `  address = "${this.socket}"`,
      "[ttrpc]",
      `  address = "${this.socket}.ttrpc"`,
      "[debug]",
      '  address = ""',
      "[metrics]",
      '  address = ""',
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${d}/opt"`,
      "",
    ].join("\n");
  }

  async start(): Promise<void> {
    const cfg = join(this.dir, "config.toml");
    writeFileSync(cfg, this.config());
    const log = join(this.dir, "containerd.log");
    const fd = openSync(log, "a");
    const script = 'set -e\nmount -t tmpfs -o mode=0755 tmpfs /run\nexec containerd --config "$1"';
    const child = spawn(...withParent(["nsenter", `--net=/run/netns/${this.node.ns}`, "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", cfg]), { stdio: ["ignore", fd, fd] });
    closeSync(fd);
    this.daemon = this.cluster.track(child, "containerd");
    const up = await waitFor(async () => (await this.ctr("version")).code === 0, 20_000, 100);
    if (!up) throw new Error(`containerd did not answer on ${this.socket}:\n${readFileSync(log, "utf8")}`);
  }

  log(): string {
    try {
      return readFileSync(join(this.dir, "containerd.log"), "utf8");
    } catch {
      return "";
    }
  }

  /** ctr against this containerd (namespace "patchcord"), in the host's namespaces. */
  ctr(...args: string[]): Promise<RunResult> {
    return sh("ctr", "--address", this.socket, "--namespace", "patchcord", ...args);
  }

  /** ctr in the node's network namespace with the CNI paths bind-mounted from the node's dirs (see the class comment). */
  ctrWithCni(...args: string[]): Promise<RunResult> {
    const script = [
      "set -e",
      "mount -t tmpfs -o mode=0755 tmpfs /opt",
      "mkdir -p /opt/cni/bin",
      'mount --bind "$1" /opt/cni/bin',
      'mount --bind "$1" /usr/lib/cni',
      'mount --bind "$2" /etc/cni/net.d',
      "mount -t tmpfs -o mode=0755 tmpfs /var/lib",
      "mkdir -p /var/lib/cni",
      "shift 2",
      'exec ctr "$@"',
    ].join("\n");
    return sh("ip", "netns", "exec", this.node.ns, "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", this.node.binDir, this.node.confDir, "--address", this.socket, "--namespace", "patchcord", ...args);
  }

  /** Removes every task, container, snapshot and image of its namespace, then stops the daemon. */
  async destroy(): Promise<void> {
    if (this.daemon && this.daemon.child.exitCode === null) {
      const ids = async (...a: string[]) => (await this.ctr(...a, "-q")).stdout.split("\n").filter(Boolean);
      for (const t of await ids("task", "ls")) await this.ctr("task", "kill", "-s", "SIGKILL", t);
      for (const t of await ids("task", "ls")) await this.ctr("task", "rm", "-f", t);
      for (const c of await ids("container", "ls")) await this.ctr("container", "rm", c);
      const snapshots = (await this.ctr("snapshot", "ls")).stdout.split("\n").slice(1).map((l) => l.split(/\s+/)[0]).filter(Boolean);
      for (const s of snapshots.reverse()) await this.ctr("snapshot", "rm", s);
      for (const i of await ids("image", "ls")) await this.ctr("image", "rm", i);
      await stop(this.daemon, "SIGTERM");
    }
    this.daemon = undefined;
  }
}

/** A root filesystem of Debian's static busybox and its applets (as links), for `ctr run --rootfs`. */
export function busyboxRootfs(dir: string): string {
  for (const d of ["bin", "proc", "sys", "dev", "etc", "tmp"]) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync("/usr/bin/busybox", join(dir, "bin/busybox"));
  for (const a of ["sh", "ip", "ping", "ping6", "cat", "sleep", "wget", "nc", "echo", "hostname"]) symlinkSync("busybox", join(dir, "bin", a));
  writeFileSync(join(dir, "etc/passwd"), "root:x:0:0:root:/:/bin/sh\n");
  return dir;
}
