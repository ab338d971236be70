import { spawn } from "node:child_process";

export interface CallOutcome {
  /** Exit code, or null when a signal ended the process. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  json?: { code?: number; msg?: string; [k: string]: unknown };
  ms: number;
  /** The test killed it: it ran past `timeoutMs`. */
  timedOut: boolean;
}

/**
 * Runs argv with `env` only and `input` on stdin, like a runtime's exec of a plugin, and tells how
 * it ended: unlike runCommand, a death by signal is reported as the signal (a kill -9 must be
 * told apart from an exit code). Bounded: after `timeoutMs` the process is killed and the outcome
 * says so in stderr, so a hung call fails its test instead of the suite's timeout.
 */
export function runCall(argv: string[], env: Record<string, string>, input: string | Buffer, timeoutMs = 15_000): Promise<CallOutcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", (e) => err.push(Buffer.from(`spawn: ${e.message}`)));
    // A killed plugin, or one that answers first (VERSION reads none), may not read all of stdin.
    child.stdin.on("error", () => undefined);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString("utf8");
      let json: CallOutcome["json"];
      try {
        json = stdout.trim() ? JSON.parse(stdout) : undefined;
      } catch {
        json = undefined;
      }
      const stderr = Buffer.concat(err).toString("utf8") + (timedOut ? `\n(killed by the test after ${timeoutMs} ms)` : "");
      resolve({ code, signal, stdout, stderr, json, ms: Date.now() - started, timedOut });
    });
    child.stdin.end(input);
  });
}
