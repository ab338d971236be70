/**
 * The test side of apiserver-main.ts: starts the stand-in API server as a Bun process (inside a
 * network namespace when asked) and drives it over its stdin/stdout line protocol.
 */
import { ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { ApiServer, Node, RecordedRequest } from "./apiserver";

const ROOT = join(__dirname, "../..");
export const BUN = join(ROOT, "node_modules/@oven/bun-linux-x64/bin/bun");
const MAIN = join(__dirname, "apiserver-main.ts");

export interface ApiServerProcessOptions {
  /** Runs the server under `ip netns exec <netns>` (needs root). */
  netns?: string;
  dir: string;
  host?: string;
  port?: number;
  manifest?: string;
  bookmarkMs?: number;
  /** How long to wait for the server to listen. */
  startTimeoutMs?: number;
}

type Ready = Pick<ApiServer, "url" | "host" | "port" | "caFile" | "tokenFile" | "kubeconfigFile">;

type Reply = { id: number; ok: boolean; error?: string; [k: string]: unknown };

export class ApiServerProcess {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly caFile: string;
  readonly tokenFile: string;
  readonly kubeconfigFile: string;
  readonly token: string;
  private nextId = 1;
  private pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private exited: Promise<number | null>;

  private constructor(private child: ChildProcess, ready: Ready, private stderr: () => string) {
    ({ url: this.url, host: this.host, port: this.port, caFile: this.caFile, tokenFile: this.tokenFile, kubeconfigFile: this.kubeconfigFile } = ready);
    this.token = readFileSync(ready.tokenFile, "utf8");
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    void this.exited.then((code) => {
      for (const p of this.pending.values()) p.reject(new Error(`stand-in API server exited (${code}): ${this.stderr()}`));
      this.pending.clear();
    });
  }

  static start(opts: ApiServerProcessOptions): Promise<ApiServerProcess> {
    const args = [MAIN, "--dir", opts.dir, "--host", opts.host ?? "127.0.0.1", "--port", String(opts.port ?? 0)];
    if (opts.manifest) args.push("--manifest", opts.manifest);
    if (opts.bookmarkMs) args.push("--bookmark-ms", String(opts.bookmarkMs));
    const argv = opts.netns ? ["ip", "netns", "exec", opts.netns, BUN, ...args] : [BUN, ...args];
    const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
    let err = "";
    child.stderr!.on("data", (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
    const lines = createInterface({ input: child.stdout! });
    return new Promise((resolve, reject) => {
      let server: ApiServerProcess | undefined;
      const fail = (why: string) => {
        child.kill("SIGKILL");
        reject(new Error(`stand-in API server ${why}: ${err.trim()}`));
      };
      const timer = setTimeout(() => fail("did not start in time"), opts.startTimeoutMs ?? 20_000);
      child.once("error", (e) => fail(e.message));
      child.once("exit", (code) => !server && fail(`exited with ${code}`));
      lines.on("line", (line) => {
        let msg: Reply & Partial<Ready> & { ready?: boolean };
        try {
          msg = JSON.parse(line);
        } catch {
          return; // not ours (a stray log line)
        }
        if (msg.ready && !server) {
          clearTimeout(timer);
          server = new ApiServerProcess(child, msg as unknown as Ready, () => err.trim());
          resolve(server);
        } else if (server && typeof msg.id === "number") {
          server.settle(msg);
        }
      });
    });
  }

  private settle(r: Reply) {
    const p = this.pending.get(r.id);
    this.pending.delete(r.id);
    if (!p) return;
    if (r.ok) p.resolve(r);
    else p.reject(new Error(r.error ?? "stand-in API server: command failed"));
  }

  private call(op: string, fields: object = {}): Promise<Reply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, op, ...fields })}\n`);
    });
  }

  async addNode(node: object): Promise<Node> {
    return (await this.call("addNode", { node })).node as Node;
  }

  /** JSON merge patch (RFC 7386): objects merge, null deletes a key, arrays are replaced whole. */
  async patchNode(name: string, patch: object): Promise<Node> {
    return (await this.call("patchNode", { name, patch })).node as Node;
  }

  async deleteNode(name: string): Promise<void> {
    await this.call("deleteNode", { name });
  }

  async nodes(): Promise<Node[]> {
    return (await this.call("nodes")).nodes as Node[];
  }

  async pause(): Promise<void> {
    await this.call("pause");
  }

  async resume(): Promise<void> {
    await this.call("resume");
  }

  async compact(): Promise<void> {
    await this.call("compact");
  }

  async requests(): Promise<RecordedRequest[]> {
    return (await this.call("requests")).requests as RecordedRequest[];
  }

  /** Stops the server and waits for the process to exit (killed if it does not within 5 s). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const kill = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await this.call("stop").catch(() => undefined);
    this.child.stdin!.end();
    await this.exited;
    clearTimeout(kill);
  }
}
