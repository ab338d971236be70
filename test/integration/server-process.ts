import { ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BIN } from "./helpers";

export const PATCHCORD = join(BIN, "patchcord");
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Servers not yet exited: a test that fails half-way must not leave one (jest would never exit). */
const live = new Set<ServerProcess>();

/** Kills (SIGKILL) every server still running and waits for them; run after each test file. */
export async function stopAllServers(): Promise<void> {
  const left = [...live];
  for (const s of left) s.kill("SIGKILL");
  await Promise.all(left.map((s) => s.exited));
}

// Registered for every test file that uses a server, whatever it does itself.
if (typeof afterAll === "function") afterAll(stopAllServers);

/** A `patchcord serve` process (in namespace `netns` when given) and its log lines. */
export class ServerProcess {
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  /** The signal that ended it, if one did. */
  signal?: string;
  private readonly proc: ChildProcess;

  constructor(
    readonly socket: string,
    netns?: string,
    env: Record<string, string> = { PATCHCORD_SERVER_LOG: "requests" },
  ) {
    const argv = [PATCHCORD, "serve", "--socket", socket];
    const [cmd, ...args] = netns ? ["ip", "netns", "exec", netns, ...argv] : argv;
    this.proc = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...env } });
    let partial = "";
    this.proc.stderr!.on("data", (d: Buffer) => {
      const parts = (partial + d.toString()).split("\n");
      partial = parts.pop()!;
      this.lines.push(...parts);
    });
    live.add(this);
    this.exited = new Promise((resolve) => {
      const gone = (code: number | null, signal?: NodeJS.Signals | null) => {
        live.delete(this);
        this.signal = signal ?? undefined;
        resolve(code);
      };
      this.proc.on("exit", gone);
      this.proc.on("error", () => gone(null)); // could not be started at all
    });
  }

  /** How it ended, as "exit N", or the signal with its last log lines (what a failed expectation should show). */
  async ending(): Promise<string> {
    const code = await this.exited;
    return code !== null ? `exit ${code}` : `killed by ${this.signal ?? "?"}; its last lines:\n${this.lines.slice(-8).join("\n")}`;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  async waitFor(re: RegExp, ms = 10_000): Promise<string> {
    const until = Date.now() + ms;
    for (;;) {
      const line = this.lines.find((l) => re.test(l));
      if (line) return line;
      if (Date.now() > until) throw new Error(`no log line ${re} in:\n${this.lines.join("\n")}`);
      await sleep(20);
    }
  }

  /** Resolves once it serves (its first log line says so). */
  ready(): Promise<string> {
    return this.waitFor(/^patchcord serve: serving CNI calls on /);
  }

  /** The calls it ran, from its request log (PATCHCORD_SERVER_LOG=requests). */
  served(): string[] {
    return this.lines.filter((l) => /: \d+ \(\d+ ms\)$/.test(l));
  }

  kill(signal: NodeJS.Signals): void {
    this.proc.kill(signal);
  }

  rssKiB(): number {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${this.pid}/status`, "utf8"))![1]);
  }
}
