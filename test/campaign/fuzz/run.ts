import { join } from "node:path";
import { BIN } from "../../integration/helpers";
import { runCall } from "../bounded-call";

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
export async function callPlugin(node: string, plugin: string, env: Record<string, string>, stdin: Buffer, socket: string): Promise<Outcome> {
  const fullEnv = { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", PATCHCORD_SOCKET: socket, ...env };
  const r = await runCall(["ip", "netns", "exec", node, join(BIN, plugin)], fullEnv, stdin, CALL_TIME_LIMIT_MS);
  return { code: r.code ?? 128, stdout: r.stdout, stderr: r.stderr, ms: r.ms, timedOut: r.timedOut };
}
