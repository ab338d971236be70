import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand, RunResult } from "../shared/kernel/run";
import { shellJoin } from "../shared/kernel/ops";

/**
 * The lab's throwaway world: network namespaces named with a per-run prefix, a scratch directory
 * (conflists, IPAM store, result cache, traces), and the shell commands the lab itself ran, kept
 * so that each scene can show them. Everything lives inside namespaces it created, so `teardown()`
 * (deleting them) removes every link, address, route and nftables table the scene made.
 */
export class World {
  readonly prefix: string;
  readonly dir: string;
  private namespaces: string[] = [];
  private shown: string[] = [];
  private traces = 0;

  constructor(prefix = `pl${process.pid.toString(36)}`) {
    this.prefix = prefix;
    this.dir = mkdtempSync(join(tmpdir(), "patchcord-lab-"));
  }

  /** Commands shown since the last call, and a fresh list. */
  takeShown(): string[] {
    const out = this.shown;
    this.shown = [];
    return out;
  }

  /** Runs argv; shown (as the article would write it) unless `quiet`; throws on failure unless `allowFail`. */
  async sh(argv: string[], o: { quiet?: boolean; allowFail?: boolean; input?: string } = {}): Promise<RunResult> {
    if (!o.quiet) this.shown.push(o.input ? `${shellJoin(argv)} <<'EOF'\n${o.input.trimEnd()}\nEOF` : shellJoin(argv));
    const r = await runCommand(argv, o.input ?? "");
    if (r.code !== 0 && !o.allowFail) throw new Error(`${shellJoin(argv)}: ${(r.stderr || r.stdout).trim() || `exit code ${r.code}`}`);
    return r;
  }

  /** `name` as a namespace of this run (the prefix keeps runs apart). */
  ns(name: string): string {
    return `${this.prefix}-${name}`;
  }

  async addNetns(name: string): Promise<string> {
    const ns = this.ns(name);
    await this.sh(["ip", "netns", "add", ns]);
    this.namespaces.push(ns);
    await this.sh(["ip", "-n", ns, "link", "set", "lo", "up"], { quiet: true });
    return ns;
  }

  /** Runs argv inside namespace `ns` (a full name from addNetns). */
  inNs(ns: string, argv: string[], o: { quiet?: boolean; allowFail?: boolean } = {}): Promise<RunResult> {
    return this.sh(["ip", "netns", "exec", ns, ...argv], o);
  }

  /** A fresh trace file for one plugin invocation. */
  traceFile(): string {
    return join(this.dir, `trace-${++this.traces}.sh`);
  }

  readText(path: string): string {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return "";
    }
  }

  writeFile(relative: string, text: string): string {
    const path = join(this.dir, relative);
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, text);
    return path;
  }

  /** Deletes every namespace of this run (newest first) and the scratch directory; safe to repeat. */
  async teardown(): Promise<void> {
    // Also any namespace of this run that an interrupted step made but did not record.
    const listed = (await runCommand(["ip", "netns", "list"])).stdout.split("\n").map((l) => l.split(" ")[0]);
    const ours = [...this.namespaces].reverse();
    for (const ns of listed) if (ns.startsWith(`${this.prefix}-`) && !ours.includes(ns)) ours.push(ns);
    for (const ns of ours) await runCommand(["ip", "netns", "del", ns]);
    this.namespaces = [];
    rmSync(this.dir, { recursive: true, force: true });
  }
}
