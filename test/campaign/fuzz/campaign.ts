import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, EXEC_MODE, runId } from "../../integration/helpers";
import { NetLab } from "../../integration/netlab";
import { ServerProcess } from "../../integration/server-process";
import { decodedConfig, FuzzContext, FuzzInput, Plugin, resolve, stdinBytes } from "./generators";
import { judge } from "./oracle";
import { callPlugin, Outcome } from "./run";
import { diffSnapshots, Snapshot, takeSnapshot } from "./snapshot";

export interface Tally {
  inputs: number;
  accepted: number;
  refused: number;
  calls: number;
  /** How the inputs were answered: "ok" or "code N", with counts. */
  answers: Record<string, number>;
}

/**
 * The fuzzer's lab: a node namespace (where every plugin runs and our resident server lives), one
 * pod namespace, a veth master for macvlan and ipvlan, a store directory; and the check of one
 * input against the oracle and the kernel's and store's state before and after.
 */
export class FuzzLab {
  readonly rid = runId();
  readonly lab = new NetLab(this.rid);
  readonly dataDir = mkdtempSync(join(tmpdir(), "pc-fuzz-store-"));
  private readonly socketDir = mkdtempSync(join(tmpdir(), "pc-fuzz-sock-"));
  readonly socket = join(this.socketDir, "cni.sock");
  readonly podName = `${this.rid}pod`;
  readonly ctx: FuzzContext = { rid: this.rid, podPath: `/run/netns/${this.podName}`, dataDir: this.dataDir, master: `${this.rid}m`, bin: BIN };
  readonly tally: Record<string, Tally> = {};
  private server?: ServerProcess;
  private last?: Snapshot;

  async create(): Promise<void> {
    await this.makeNamespaces();
    this.server = new ServerProcess(this.socket, this.lab.node, {});
    await this.server.ready();
  }

  private async makeNamespaces(): Promise<void> {
    await this.lab.create();
    await this.lab.addPod("pod");
    const m = this.ctx.master;
    await this.lab.inNode("ip", "link", "add", m, "type", "veth", "peer", "name", `${m}p`);
    await this.lab.inNode("ip", "link", "set", m, "up");
    await this.lab.inNode("ip", "link", "set", `${m}p`, "up");
    this.last = undefined;
  }

  /** After a finding: everything made anew, so the inputs after it (and shrinking) start clean. */
  private async heal(): Promise<void> {
    await this.lab.destroy();
    rmSync(this.dataDir, { recursive: true, force: true });
    mkdirSync(this.dataDir, { recursive: true });
    await this.makeNamespaces();
  }

  async destroy(): Promise<void> {
    this.server?.kill("SIGTERM");
    await this.server?.exited;
    await this.lab.destroy();
    rmSync(this.dataDir, { recursive: true, force: true });
    rmSync(this.socketDir, { recursive: true, force: true });
  }

  snapshot(): Promise<Snapshot> {
    return takeSnapshot(this.lab.node, this.podName, this.dataDir);
  }

  private count(plugin: Plugin): Tally {
    return (this.tally[plugin] ??= { inputs: 0, accepted: 0, refused: 0, calls: 0, answers: {} });
  }

  call(input: Pick<FuzzInput, "plugin" | "exec">, env: Record<string, string>, stdin: Buffer): Promise<Outcome> {
    this.count(input.plugin).calls++;
    return callPlugin(this.lab.node, input.plugin, resolve(env, this.ctx), stdin, input.exec ? EXEC_MODE.PATCHCORD_SOCKET : this.socket);
  }

  /**
   * Runs one input and returns what is wrong with the outcome (empty: nothing). An accepted ADD is
   * followed by CHECK (spec 0.4.0 and newer) and DEL with its result, which must both succeed;
   * then, as after every other input, the kernel and the store must be as before.
   */
  async check(input: FuzzInput): Promise<string[]> {
    const before = this.last ?? (await this.snapshot());
    const stdin = stdinBytes(input.stdin, this.ctx);
    const config = decodedConfig(input.stdin, this.ctx);
    const o = await this.call(input, input.env, stdin);
    const j = judge(input.plugin, input.verb, input.expect, config, o);
    const problems = [...j.problems];
    const t = this.count(input.plugin);
    t.inputs++;
    if (j.accepted) t.accepted++;
    else t.refused++;
    const answer = j.accepted ? `${input.verb} ok` : `${input.verb} code ${/"code":\s*(\d+)/.exec(o.stdout)?.[1] ?? "?"}`;
    t.answers[answer] = (t.answers[answer] ?? 0) + 1;
    if (input.verb === "ADD" && j.accepted && j.result && config) {
      const follow = () => Buffer.from(JSON.stringify({ ...config, prevResult: j.result }));
      const version = String(config.cniVersion);
      if (version >= "0.4.0") {
        const c = await this.call(input, { ...input.env, CNI_COMMAND: "CHECK" }, follow());
        problems.push(...judge(input.plugin, "CHECK", { ok: true }, config, c).problems.map((p) => `CHECK after the ADD: ${p}`));
      }
      const d = await this.call(input, { ...input.env, CNI_COMMAND: "DEL" }, follow());
      problems.push(...judge(input.plugin, "DEL", { ok: true }, config, d).problems.map((p) => `DEL after the ADD: ${p}`));
    }
    // A refused input changed nothing, so it can be asked again the other way (exec mode instead of
    // the server, or the other way round): a runtime must get the same answer from either.
    if (!j.accepted && input.twin) {
      const other = await this.call({ ...input, exec: !input.exec }, input.env, stdin);
      if (other.code !== o.code || errorOf(other.stdout) !== errorOf(o.stdout)) {
        problems.push(`${input.exec ? "server" : "exec"} mode answers otherwise: exit ${other.code}, stdout ${JSON.stringify(other.stdout.slice(0, 400))}`);
      }
    }
    const after = await this.snapshot();
    const diff = diffSnapshots(before, after);
    if (diff.length) problems.push(`${j.accepted ? (input.verb === "ADD" ? "ADD then DEL" : `accepted ${input.verb}`) : "refused input"} changed the state:\n  ${diff.join("\n  ")}`);
    this.last = after;
    if (problems.length) {
      problems.push(`outcome: exit ${o.code} in ${o.ms} ms, stdout ${JSON.stringify(o.stdout.slice(0, 400))}, stderr ${JSON.stringify(o.stderr.slice(0, 400))}`);
      await this.heal();
    }
    return problems;
  }
}

/** An error answer's code and message (not its details, which may name a process's own state). */
function errorOf(stdout: string): string {
  try {
    const e = JSON.parse(stdout) as { code?: unknown; msg?: unknown };
    return `${String(e.code)} ${String(e.msg)}`;
  } catch {
    return stdout;
  }
}
