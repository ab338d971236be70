import { nsPrefix, shellJoin } from "../shared/kernel/ops";
import { runCommand } from "../shared/kernel/run";
import { findExecutable } from "../shared/kernel/which";
import type { LinkInfo, RouteInfo } from "../shared/kernel/query";
import { CannotLook, Evidence } from "./finding";

export interface Looked extends Evidence {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KernelRoute extends RouteInfo {
  protocol?: string;
  type?: string;
  /** Which dump it came from (`default` alone does not say). */
  family: 4 | 6;
}

/**
 * The only way doctor touches the kernel: commands that read (ip show/get, sysctl without -w or grep of /proc/sys,
 * nft list, iptables-save), run in a namespace with nsenter as a person would, each kept as the
 * shell line it is so that a finding's evidence is a command the person can run again.
 */
export class Look {
  /** Every command run, in order (the test of "changes nothing" reads them too). */
  readonly ran: string[] = [];
  /** Whether procps' sysctl is installed (else /proc/sys is read with grep). */
  private readonly haveSysctl: boolean;

  constructor(o: { sysctl?: boolean } = {}) {
    this.haveSysctl = o.sysctl ?? findExecutable("sysctl") !== undefined;
  }

  async run(netns: string | undefined, argv: string[]): Promise<Looked> {
    const full = [...nsPrefix(netns), ...argv];
    const command = shellJoin(full);
    this.ran.push(command);
    const r = await runCommand(full);
    const output = [r.stdout.trimEnd(), r.stderr.trimEnd()].filter(Boolean).join("\n");
    return { command, output, code: r.code, stdout: r.stdout, stderr: r.stderr };
  }

  /** `ip -j ARGS`, parsed; a failure means doctor cannot look at that namespace at all. */
  async ipJson<T>(netns: string | undefined, args: string[]): Promise<T[]> {
    const r = await this.run(netns, ["ip", "-j", ...args]);
    if (r.code !== 0) throw new CannotLook(`${r.command}: ${r.stderr.trim() || `exit code ${r.code}`}`);
    const text = r.stdout.trim();
    try {
      return text === "" ? [] : (JSON.parse(text) as T[]);
    } catch {
      throw new CannotLook(`${r.command}: its output is not JSON`);
    }
  }

  links(netns: string | undefined): Promise<LinkInfo[]> {
    return this.ipJson<LinkInfo>(netns, ["-d", "addr", "show"]);
  }

  async routes(netns: string | undefined): Promise<KernelRoute[]> {
    const [v4, v6] = await Promise.all([this.ipJson<KernelRoute>(netns, ["-4", "route", "show", "table", "main"]), this.ipJson<KernelRoute>(netns, ["-6", "route", "show", "table", "main"])]);
    return [...v4.map((r) => ({ ...r, family: 4 as const })), ...v6.map((r) => ({ ...r, family: 6 as const }))];
  }

  /** nsid (as `netns` sees it) to namespace path, for the namespaces named under /run/netns. */
  async namedNamespaces(netns: string | undefined): Promise<Map<number, string>> {
    const r = await this.run(netns, ["ip", "-j", "netns", "list-id"]);
    const out = new Map<number, string>();
    if (r.code !== 0) return out;
    try {
      for (const e of JSON.parse(r.stdout || "[]") as { nsid: number; name?: string }[]) if (e.name) out.set(e.nsid, `/run/netns/${e.name}`);
    } catch {
      // no names: what needed them stays unknown
    }
    return out;
  }

  /**
   * The values of sysctl `keys` in `netns` (the ones that exist), with the command that showed
   * them: `sysctl KEY...`, or where procps is missing (the agent's image) `grep -H ^ /proc/sys/...`.
   */
  async sysctls(netns: string | undefined, keys: string[]): Promise<{ values: Map<string, string>; looked: Looked }> {
    const values = new Map<string, string>();
    if (this.haveSysctl) {
      const looked = await this.run(netns, ["sysctl", ...keys]);
      for (const line of looked.stdout.split("\n")) {
        const m = /^(\S+) = (.*)$/.exec(line);
        if (m) values.set(m[1], m[2]);
      }
      return { values, looked };
    }
    const looked = await this.run(netns, ["grep", "-H", "^", ...keys.map(sysctlPath)]);
    for (const line of looked.stdout.split("\n")) {
      const at = line.lastIndexOf(":");
      if (at > 0) values.set(sysctlKey(line.slice(0, at)), line.slice(at + 1));
    }
    return { values, looked };
  }

  /** Evidence of sysctl `keys`: the command and what it printed. */
  async showSysctls(netns: string | undefined, keys: string[]): Promise<Evidence> {
    return shown((await this.sysctls(netns, keys)).looked);
  }
}

/** `net.ipv4.conf.eth0/100.rp_filter` is /proc/sys/net/ipv4/conf/eth0.100/rp_filter (sysctl writes a dot in a name as /). */
export const sysctlPath = (key: string): string => `/proc/sys/${key.split(".").map((c) => c.replace(/\//g, ".")).join("/")}`;
export const sysctlKey = (path: string): string => path.replace(/^\/proc\/sys\//, "").split("/").map((c) => c.replace(/\./g, "/")).join(".");

/** A command and what it printed, for a finding (the output as it was, or a note that there was none). */
export const shown = (r: Evidence): Evidence => ({ command: r.command, output: r.output === "" ? "(no output)" : r.output });
