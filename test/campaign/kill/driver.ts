import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN } from "../../integration/helpers";
import { NetLab } from "../../integration/netlab";
import { ServerProcess } from "../../integration/server-process";
import { infrastructure, KillCase } from "./cases";
import { CallOutcome, runCall } from "../bounded-call";
import { diff, snapshot, Where } from "./snapshot";

/** A socket no server listens on: the shim runs the Bun binary itself (test/integration/helpers.ts EXEC_MODE). */
const NO_SERVER = "/nonexistent/patchcord-exec-mode.sock";

export type Mode = "exec" | "server";

/** Trace blocks (each starts `# +N ms`) that hold a command: one per kernel batch. */
function commandBlocks(trace: string): number {
  let blocks = 0;
  let counted = true;
  for (const line of trace.split("\n")) {
    if (/^# \+[\d.]+ ms$/.test(line)) counted = false;
    else if (!counted && line && !line.startsWith("#")) {
      blocks++;
      counted = true;
    }
  }
  return blocks;
}

/** `p`, or `otherwise` after `ms` (the timer cleared either way, so jest can exit). */
function within<T, U>(p: Promise<T>, ms: number, otherwise: U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<U>((resolve) => (timer = setTimeout(() => resolve(otherwise), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** What one step found wrong, in words; empty when the step passed. */
export type Problems = string[];

/**
 * Runs the campaign's calls as a runtime would, in the node namespace through the shim: the
 * killed call in exec mode (PATCHCORD_FAULT in its environment) or to a dedicated server started
 * with PATCHCORD_FAULT, and every other call to the node's resident server (faster than exec).
 */
export class KillDriver {
  private pods = 0;

  constructor(
    readonly lab: NetLab,
    readonly dataDir: string,
    readonly socket: string,
  ) {}

  call(c: KillCase, command: string, id: string, netns: string, o: { fault?: string; socket?: string; prevResult?: unknown; trace?: boolean } = {}): Promise<CallOutcome> {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
      CNI_COMMAND: command,
      CNI_CONTAINERID: id,
      CNI_NETNS: netns,
      CNI_IFNAME: "eth0",
      CNI_PATH: BIN,
      PATCHCORD_SOCKET: o.socket ?? (o.fault ? NO_SERVER : this.socket),
      ...(o.fault ? { PATCHCORD_FAULT: o.fault } : {}),
      ...(o.trace ? { PATCHCORD_TRACE: "stderr" } : {}),
    };
    const conf = o.prevResult ? { ...c.conf, prevResult: o.prevResult } : c.conf;
    return runCall(["ip", "netns", "exec", this.lab.node, join(BIN, c.plugin)], env, JSON.stringify(conf));
  }

  /** The call killed at `fault`: whether it was (or completed: the step is past the last one), and how it ended otherwise. */
  async killedCall(mode: Mode, c: KillCase, command: string, id: string, netns: string, fault: string, prevResult?: unknown): Promise<{ completed: boolean; result?: unknown; problem?: string }> {
    if (mode === "exec") {
      const r = await this.call(c, command, id, netns, { fault, prevResult });
      if (r.code === 0) return { completed: true, result: r.json };
      if (r.signal === "SIGKILL") return { completed: false };
      return { completed: false, problem: `${command} at ${fault} ended with code ${r.code} signal ${r.signal}: ${r.stdout} ${r.stderr}` };
    }
    const dir = mkdtempSync(join(tmpdir(), "pc-kill-srv-"));
    const server = new ServerProcess(join(dir, "cni.sock"), this.lab.node, { PATCHCORD_FAULT: fault });
    try {
      await server.ready();
      const r = await this.call(c, command, id, netns, { socket: join(dir, "cni.sock"), prevResult });
      if (r.code === 0) return { completed: true, result: r.json };
      const exit = await within(server.exited, 5000, "still running");
      if (r.json?.code === 11 && exit === null) return { completed: false };
      return { completed: false, problem: `${command} at ${fault} (server mode): reply ${r.stdout.trim()} code ${r.code}, server exit ${exit}` };
    } finally {
      server.kill("SIGKILL");
      await server.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /**
   * The kernel batches of a clean ADD and DEL as the plugin's trace shows them (PATCHCORD_TRACE:
   * each batch is one block of commands), to compare with the steps the kills found.
   */
  async tracedBatches(c: KillCase): Promise<{ add: number; del: number }> {
    await this.reset(c);
    const pod = await this.newPod();
    try {
      const add = await this.call(c, "ADD", pod.id, pod.path, { socket: NO_SERVER, trace: true });
      const del = await this.call(c, "DEL", pod.id, pod.path, { socket: NO_SERVER, trace: true, prevResult: add.json });
      if (add.code !== 0 || del.code !== 0) throw new Error(`${c.name}: traced ADD/DEL failed: ${add.stdout} ${del.stdout}`);
      return { add: commandBlocks(add.stderr), del: commandBlocks(del.stderr) };
    } finally {
      await this.lab.deleteNetns(pod.ns);
    }
  }

  /** Removes what the case's pods share, so that every step starts on a node that has none of it. */
  async reset(c: KillCase): Promise<void> {
    if (c.bridge) await this.lab.inNode("ip", "link", "del", c.bridge);
    await this.lab.inNode("nft", "delete", "table", "inet", "patchcord");
    await this.lab.inNode("nft", "delete", "table", "bridge", "patchcord");
  }

  async newPod(): Promise<{ path: string; ns: string; id: string }> {
    const n = ++this.pods;
    const path = await this.lab.addPod(`k${n}`);
    return { path, ns: path.split("/").pop()!, id: `kill-${n}` };
  }

  /** A pod's namespace made again under the same name (after the runtime removed it), lo up. */
  async recreatePod(ns: string): Promise<void> {
    await this.lab.addNetns(ns);
    await NetLab.sh("ip", "-n", ns, "link", "set", "lo", "up");
  }

  where(c: KillCase, pod: string): Where {
    return { node: this.lab.node, pod, dataDir: this.dataDir, network: c.conf.name as string, iptables: c.iptables };
  }

  /** What the node and pod have gained or lost since `before`, shared objects aside; empty when nothing. */
  async leftovers(c: KillCase, w: Where, before: string[], when: string): Promise<Problems> {
    const d = diff(before, await snapshot(w), infrastructure(c));
    const out: Problems = [];
    if (d.added.length) out.push(`${when}: left behind:\n    ${d.added.join("\n    ")}`);
    if (d.removed.length) out.push(`${when}: taken away:\n    ${d.removed.join("\n    ")}`);
    return out;
  }

  /** A repeated ADD on the node as the killed step left it: it works, CHECK passes, the pod reaches its gateway. */
  async addWorks(c: KillCase, id: string, pod: { path: string; ns: string }): Promise<{ problems: Problems; result?: unknown }> {
    const add = await this.call(c, "ADD", id, pod.path);
    if (add.code !== 0) return { problems: [`the repeated ADD failed: ${add.stdout.trim()} ${add.stderr.trim()}`] };
    const problems: Problems = [];
    const check = await this.call(c, "CHECK", id, pod.path, { prevResult: add.json });
    if (check.code !== 0) problems.push(`CHECK after the repeated ADD failed: ${check.stdout.trim()}`);
    if (c.gateway && (await NetLab.sh("ip", "netns", "exec", pod.ns, "ping", "-c", "1", "-W", "1", c.gateway)).code !== 0) {
      problems.push(`after the repeated ADD the pod does not reach its gateway ${c.gateway}`);
    }
    if (c.bridge) {
      // What planCreateBridge sets once: a bridge made by a killed ADD must end up the same.
      const ra = (await this.lab.inNode("cat", `/proc/sys/net/ipv6/conf/${c.bridge}/accept_ra`)).stdout.trim();
      if (ra !== "0") problems.push(`after the repeated ADD the bridge ${c.bridge} has accept_ra=${ra}, not 0`);
    }
    return { problems, result: add.json };
  }
}
