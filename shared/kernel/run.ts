import { childProcess } from "../lazy";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs argv (no shell) with `input` on stdin and collects its output. A missing program is reported
 * as exit code 127 with the spawn error in stderr, the way a shell would.
 */
export function runCommand(argv: string[], input = "", env?: Record<string, string | undefined>): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = childProcess().spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "pipe"], env: env as NodeJS.ProcessEnv | undefined });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let spawnError: Error | undefined;
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", (e) => {
      spawnError = e;
    });
    child.on("close", (code) => {
      const stderr = Buffer.concat(err).toString("utf8") + (spawnError ? `${argv[0]}: ${spawnError.message}` : "");
      resolve({ code: spawnError ? 127 : code ?? 128, stdout: Buffer.concat(out).toString("utf8"), stderr });
    });
    child.stdin.on("error", () => {
      // The child may exit before reading all of stdin; its exit code tells what happened.
    });
    child.stdin.end(input);
  });
}
