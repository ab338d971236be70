import { spawn } from "node:child_process";
import { join } from "node:path";
import { BIN } from "../../integration/helpers";

/** How one plugin call ended, as a runtime sees it. */
export interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

/** No call may take longer: a plugin that hangs on hostile input is a finding. */
export const CALL_TIME_LIMIT_MS = 10_000;

/**
 * Runs dist/bin/<plugin> (the shim) inside namespace `node` as a runtime would: `env` is the whole
 * CNI environment beside PATH and PATCHCORD_SOCKET (our own server's socket, or a dead one for
 * exec mode), `stdin` exact bytes. Killed after CALL_TIME_LIMIT_MS.
 */
export function callPlugin(node: string, plugin: string, env: Record<string, string>, stdin: Buffer, socket: string): Promise<Outcome> {
  const started = Date.now();
  const fullEnv = { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", PATCHCORD_SOCKET: socket, ...env };
  return new Promise((resolve) => {
    const child = spawn("ip", ["netns", "exec", node, join(BIN, plugin)], { stdio: ["pipe", "pipe", "pipe"], env: fullEnv });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, CALL_TIME_LIMIT_MS);
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", (e) => err.push(Buffer.from(`spawn: ${e.message}`)));
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8"), ms: Date.now() - started, timedOut });
    });
    // A plugin may answer before reading all of a huge stdin (VERSION reads none): not an error.
    child.stdin.on("error", () => undefined);
    child.stdin.end(stdin);
  });
}
