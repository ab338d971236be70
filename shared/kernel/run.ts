import { childProcess } from "../lazy";
import { bunFacilities } from "../sys/syscalls";
import { hostNetns, inNetns } from "./netns";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

interface BunSpawnOptions {
  stdin: Uint8Array;
  stdout: "pipe";
  stderr: "pipe";
  env?: Record<string, string | undefined>;
}

interface BunSpawn {
  spawnSync(argv: string[], o: BunSpawnOptions): { exitCode: number | null; stdout?: Uint8Array; stderr?: Uint8Array };
  spawn(argv: string[], o: BunSpawnOptions): { exited: Promise<number>; stdout: ReadableStream<Uint8Array>; stderr: ReadableStream<Uint8Array> };
}

const notStarted = (argv: string[], e: unknown): RunResult => ({ code: 127, stdout: "", stderr: `${argv[0]}: ${(e as Error).message}` });

/**
 * Under Bun: its native spawnSync. A compiled binary pays about 5 ms to load node:child_process
 * and about 17 ms more for its first spawn, against about 3 ms for a whole Bun.spawnSync. The
 * commands we run are short (`ip`, `nft`, `iptables-restore`), so blocking on them costs nothing.
 */
function runWithBun(bun: BunSpawn, argv: string[], input: string, env?: Record<string, string | undefined>): RunResult {
  try {
    // The child is forked from this thread, so it starts in the host side's namespace.
    const r = inNetns(undefined, () => bun.spawnSync(argv, { stdin: new TextEncoder().encode(input), stdout: "pipe", stderr: "pipe", ...(env ? { env } : {}) }));
    const text = (b?: Uint8Array) => (b ? new TextDecoder().decode(b) : "");
    return { code: r.exitCode ?? 128, stdout: text(r.stdout), stderr: text(r.stderr) };
  } catch (e) {
    return notStarted(argv, e);
  }
}

/**
 * In the resident server: the child is started while this thread is in the caller's namespace
 * (Bun.spawn forks before it returns), and waited for after the switch back, so the server's one
 * thread goes on with other calls meanwhile instead of blocking for each `nft` or `iptables`
 * (in a burst of ipMasq pods those added up to seconds, long enough for shims to give up waiting
 * for the server's hello).
 */
async function runWithBunAsync(bun: BunSpawn, argv: string[], input: string, env?: Record<string, string | undefined>): Promise<RunResult> {
  let child: ReturnType<BunSpawn["spawn"]>;
  try {
    child = inNetns(undefined, () => bun.spawn(argv, { stdin: new TextEncoder().encode(input), stdout: "pipe", stderr: "pipe", ...(env ? { env } : {}) }));
  } catch (e) {
    return notStarted(argv, e);
  }
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code: code ?? 128, stdout, stderr };
}

/**
 * Runs argv (no shell) with `input` on stdin and collects its output. A missing program is reported
 * as exit code 127 with the spawn error in stderr, the way a shell would.
 */
export function runCommand(argv: string[], input = "", env?: Record<string, string | undefined>): Promise<RunResult> {
  const bun = bunFacilities<BunSpawn>();
  const host = hostNetns();
  if (bun) return host === undefined ? Promise.resolve(runWithBun(bun, argv, input, env)) : runWithBunAsync(bun, argv, input, env);
  if (host !== undefined) argv = ["nsenter", `--net=${host}`, ...argv];
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
