import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand, RunResult } from "../shared/kernel/run";
import { CNITOOL, execPlugin, PluginRun } from "../test/integration/helpers";

/**
 * What a conformance scenario works with: one implementation (ours or the reference), one plugin,
 * one spec version, and a throwaway "node" namespace in which the driver (dist/cnitool, on
 * libcni) runs the plugins, so nothing reaches the real host.
 */
export interface Implementation {
  name: "patchcord" | "reference";
  /** CNI_PATH: where the plugins are looked up. */
  path: string[];
  /** The binary directory of the implementation's own plugins (for bad-input scenarios). */
  bin: string;
  /** The plugin's type name in this implementation (veth-routed is ptp in the reference). */
  type(plugin: string): string;
}

export type DriverRun = PluginRun;

export { CNITOOL };
/** The macvlan master made in each node namespace. */
export const MASTER = "mst0";

export const sh = (...argv: string[]): Promise<RunResult> => runCommand(argv);

let counter = 0;

/** One scenario run: its own node namespace, conflist dir, result cache and IPAM store. */
export class Run {
  readonly id: string;
  readonly node: string;
  readonly dir: string;
  readonly confDir: string;
  readonly cacheDir: string;
  readonly dataDir: string;
  /** A /24 of its own under 198.18.0.0/15 (the benchmarking range), and a bridge name. */
  readonly subnet: string;
  readonly bridge: string;
  private pods: string[] = [];

  constructor(
    readonly impl: Implementation,
    readonly plugin: string,
    readonly version: string,
  ) {
    const n = ++counter;
    this.id = `pcc${process.pid.toString(36)}${n}`;
    this.node = `${this.id}n`;
    this.dir = mkdtempSync(join(tmpdir(), "pc-conf-"));
    this.confDir = join(this.dir, "net.d");
    this.cacheDir = join(this.dir, "cache");
    this.dataDir = join(this.dir, "ipam");
    mkdirSync(this.confDir);
    this.subnet = `198.${18 + Math.floor(n / 250)}.${n % 250}`;
    this.bridge = `${this.id}b`.slice(0, 15);
  }

  get network(): string {
    return `conf${this.id}`;
  }

  async start(): Promise<void> {
    const r = await sh("ip", "netns", "add", this.node);
    if (r.code !== 0) throw new Error(`ip netns add ${this.node}: ${r.stderr}`);
    await sh("ip", "-n", this.node, "link", "set", "lo", "up");
    if (this.plugin === "macvlan") {
      // The master: one end of a veth pair inside the node (never a real NIC), up with its peer.
      await this.inNode("ip", "link", "add", MASTER, "type", "veth", "peer", "name", `${MASTER}p`);
      for (const l of [MASTER, `${MASTER}p`]) await this.inNode("ip", "link", "set", l, "up");
    }
  }

  /** Plugins with a host-side interface (bridge, veth-routed) support host-side chaining and a gateway. */
  get hasHostSide(): boolean {
    return this.plugin !== "macvlan" && this.plugin !== "ipvlan";
  }

  async pod(name: string): Promise<string> {
    const ns = `${this.id}${name}`;
    const r = await sh("ip", "netns", "add", ns);
    if (r.code !== 0) throw new Error(`ip netns add ${ns}: ${r.stderr}`);
    this.pods.push(ns);
    await sh("ip", "-n", ns, "link", "set", "lo", "up");
    return `/run/netns/${ns}`;
  }

  async removePod(path: string): Promise<void> {
    const ns = path.split("/").pop()!;
    await sh("ip", "netns", "del", ns);
    this.pods = this.pods.filter((p) => p !== ns);
  }

  /** The main plugin's config for this run: host-local addresses and per plugin its own keys (masquerading where offered). */
  mainPlugin(extra: Record<string, unknown> = {}, ipam: Record<string, unknown> = {}): Record<string, unknown> {
    const own: Record<string, Record<string, unknown>> = {
      bridge: { bridge: this.bridge, isGateway: true, ipMasq: true },
      "veth-routed": { ipMasq: true },
      macvlan: { master: MASTER },
    };
    return {
      type: this.impl.type(this.plugin),
      ...own[this.plugin],
      ipam: { type: "host-local", dataDir: this.dataDir, ranges: [[{ subnet: `${this.subnet}.0/24` }]], ...ipam },
      ...extra,
    };
  }

  writeConflist(list: Record<string, unknown>): void {
    writeFileSync(join(this.confDir, `${this.network}.conflist`), JSON.stringify({ name: this.network, ...list }));
  }

  /** `cnitool COMMAND NETWORK [NETNS]` inside the node namespace. */
  driver(command: string, netns?: string, env: Record<string, string> = {}): Promise<DriverRun> {
    return execPlugin(CNITOOL, { NETCONFPATH: this.confDir, CNI_CACHE_DIR: this.cacheDir, CNI_PATH: this.impl.path.join(":"), ...env }, "", this.inNodeArgv(), [
      command,
      this.network,
      ...(netns ? [netns] : []),
    ]);
  }

  /** `cnitool version PLUGIN`: libcni's VERSION call. */
  driverVersion(type: string): Promise<DriverRun> {
    return execPlugin(CNITOOL, { CNI_PATH: this.impl.path.join(":") }, "", this.inNodeArgv(), ["version", type]);
  }

  /** Runs a plugin binary directly in the node namespace, as a runtime would. */
  direct(binary: string, env: Record<string, string>, stdin: string): Promise<DriverRun> {
    return execPlugin(binary, env, stdin, this.inNodeArgv());
  }

  private inNodeArgv(): string[] {
    return ["ip", "netns", "exec", this.node];
  }

  inNode(...argv: string[]): Promise<RunResult> {
    return sh("ip", "netns", "exec", this.node, ...argv);
  }

  /** Address files left in the IPAM store of this run's network. */
  reservations(): string[] {
    try {
      return readdirSync(join(this.dataDir, this.network)).filter((f) => /^[0-9a-f]/.test(f) && !f.startsWith("last_reserved_ip"));
    } catch {
      return [];
    }
  }

  async cleanup(): Promise<void> {
    for (const p of this.pods) await sh("ip", "netns", "del", p);
    await sh("ip", "netns", "del", this.node);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export class ScenarioFailure extends Error {}

export function check(ok: unknown, message: string): asserts ok {
  if (!ok) throw new ScenarioFailure(message);
}
