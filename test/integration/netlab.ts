import { runCommand, RunResult } from "../../shared/kernel/run";
import { execPlugin, PluginRun } from "./helpers";

/**
 * A throwaway lab: a "node" namespace where plugins run (so bridges, veths, sysctls and netfilter
 * rules never touch the real host) and pod namespaces. Names carry a per-run prefix; `destroy()`
 * removes everything, and is safe to call twice.
 */
export class NetLab {
  readonly node: string;
  private namespaces: string[] = [];

  constructor(readonly prefix: string) {
    this.node = `${prefix}node`;
  }

  static sh(...argv: string[]): Promise<RunResult> {
    return runCommand(argv);
  }

  async create(): Promise<void> {
    await this.addNetns(this.node);
    await NetLab.sh("ip", "netns", "exec", this.node, "ip", "link", "set", "lo", "up");
  }

  async addNetns(name: string): Promise<string> {
    const r = await NetLab.sh("ip", "netns", "add", name);
    if (r.code !== 0) throw new Error(`ip netns add ${name}: ${r.stderr}`);
    this.namespaces.push(name);
    return `/run/netns/${name}`;
  }

  async addPod(name: string): Promise<string> {
    const path = await this.addNetns(`${this.prefix}${name}`);
    await NetLab.sh("ip", "-n", `${this.prefix}${name}`, "link", "set", "lo", "up");
    return path;
  }

  async deleteNetns(name: string): Promise<void> {
    await NetLab.sh("ip", "netns", "del", name);
    this.namespaces = this.namespaces.filter((n) => n !== name);
  }

  /** Runs a command inside the node namespace. */
  inNode(...argv: string[]): Promise<RunResult> {
    return NetLab.sh("ip", "netns", "exec", this.node, ...argv);
  }

  async nodeJson<T>(...argv: string[]): Promise<T> {
    const r = await this.inNode(...argv);
    return JSON.parse(r.stdout || "null") as T;
  }

  /** Runs a CNI plugin binary as the node's runtime would. */
  plugin(binary: string, env: Record<string, string>, config: unknown): Promise<PluginRun> {
    return execPluginIn(this.node, binary, env, config);
  }

  async ping(fromPod: string, address: string): Promise<boolean> {
    const r = await NetLab.sh("ip", "netns", "exec", fromPod, "ping", "-c", "1", "-W", "1", address);
    return r.code === 0;
  }

  async destroy(): Promise<void> {
    for (const ns of [...this.namespaces].reverse()) await NetLab.sh("ip", "netns", "del", ns);
    this.namespaces = [];
  }
}

/** execPlugin() inside a namespace: `ip netns exec NS BINARY`. */
export const execPluginIn = (ns: string, binary: string, env: Record<string, string>, config: unknown): Promise<PluginRun> =>
  execPlugin(binary, env, config, ["ip", "netns", "exec", ns]);
