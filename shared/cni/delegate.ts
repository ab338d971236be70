import { CniError, ErrorCode } from "./errors";
import { pluginTypeProblem } from "./names";
import { parseResult, Result } from "./result";
import { decodeJsonObject, shortText } from "./json-input";
import { runCommand } from "../kernel/run";
import { inProcessPlugins } from "./in-process";
export type { InProcessRunner } from "./in-process";
import { fs, joinPath as join } from "../lazy";

export type DelegatedCommand = "ADD" | "DEL" | "CHECK" | "GC" | "STATUS";

export interface DelegateContext {
  /** CNI_PATH directories. */
  path: string[];
  /** Our environment; the delegate gets all of it, with CNI_COMMAND replaced. */
  env: Record<string, string | undefined>;
  /** The exact bytes we read on stdin. */
  stdin: Buffer;
  /** The config's version, assumed for a result that does not name its own. */
  version: string;
  stderr?: (text: string) => void;
}

/** The first regular file named `type` in the CNI_PATH directories, as libcni looks it up. */
export function findPlugin(type: string, path: string[]): string {
  const problem = pluginTypeProblem(type);
  if (problem) throw new CniError(ErrorCode.InvalidNetworkConfig, `plugin type ${JSON.stringify(type)} ${problem}`);
  if (!path.length) throw new CniError(ErrorCode.InvalidEnvironment, "required env variables [CNI_PATH] missing", `needed to find the ${type} plugin`);
  for (const dir of path) {
    const candidate = join(dir, type);
    try {
      if (fs().statSync(candidate).isFile()) return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new CniError(ErrorCode.DelegateFailed, `failed to find plugin ${JSON.stringify(type)} in path [${path.join(" ")}]`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The shim the build and the agent put beside the multi-call binary (dist/bin, /opt/cni/bin). */
const SHIM_NAME = "patchcord-shim";
const sameFiles = new Map<string, boolean>();
const identity = (st: { dev: number; ino: number; size: number; mtimeMs: number }) => `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;

/**
 * Whether `binary` runs this very code: the multi-call binary itself, or the native shim that
 * hands calls to it (the plugin names are the shim's since issue 13), as a link of the shim
 * beside us or as a copy of it (the agent's image installs copies). A copy is compared byte for
 * byte once per file version; the server keeps the answer for its lifetime.
 */
function isThisExecutable(binary: string): boolean {
  try {
    const a = fs().statSync(binary);
    const self = fs().statSync(process.execPath);
    if (a.dev === self.dev && a.ino === self.ino) return true;
    const shimPath = join(process.execPath.slice(0, process.execPath.lastIndexOf("/")) || "/", SHIM_NAME);
    const shim = fs().statSync(shimPath);
    if (a.dev === shim.dev && a.ino === shim.ino) return true;
    if (a.size !== shim.size) return false;
    const key = `${identity(a)}|${identity(shim)}`;
    let same = sameFiles.get(key);
    if (same === undefined) {
      same = Buffer.from(fs().readFileSync(binary)).equals(Buffer.from(fs().readFileSync(shimPath)));
      sameFiles.set(key, same);
    }
    return same;
  } catch {
    return false;
  }
}

async function runDelegate(type: string, binary: string, env: Record<string, string | undefined>, stdin: Buffer) {
  const inProcess = inProcessPlugins[type];
  if (inProcess && isThisExecutable(binary)) return inProcess(env, stdin);
  let run = await runCommand([binary], stdin.toString("utf8"), env);
  // A binary being replaced (e.g. by an installer) fails to exec with ETXTBSY; libcni retries too.
  for (let i = 0; i < 5 && run.code === 127 && /ETXTBSY/.test(run.stderr); i++) {
    await sleep(1000);
    run = await runCommand([binary], stdin.toString("utf8"), env);
  }
  return run;
}

/**
 * Runs a delegated plugin (IPAM) as the spec says: same environment but CNI_COMMAND, same stdin.
 * Its error is passed on unchanged (code, msg, details); its stderr is forwarded to ours.
 */
export async function delegate(command: DelegatedCommand, type: string, ctx: DelegateContext): Promise<Result | undefined> {
  const binary = findPlugin(type, ctx.path);
  const env = { ...ctx.env, CNI_COMMAND: command };
  const run = await runDelegate(type, binary, env, ctx.stdin);
  if (run.stderr && ctx.stderr) ctx.stderr(run.stderr.endsWith("\n") ? run.stderr : run.stderr + "\n");
  if (run.code !== 0) throw delegateError(type, run.stdout, run.stderr, run.code);
  if (command !== "ADD") return undefined;
  // The delegate may be anyone's binary: its output gets the same limits as our own stdin.
  try {
    return parseResult(decodeJsonObject(Buffer.from(run.stdout, "utf8"), `the result of plugin ${type}`), ctx.version);
  } catch (e) {
    // It succeeded, so it may hold a reservation we cannot use: release it, as after a failed ADD.
    await runDelegate(type, binary, { ...ctx.env, CNI_COMMAND: "DEL" }, ctx.stdin).catch(() => undefined);
    throw e;
  }
}

function delegateError(type: string, stdout: string, stderr: string, code: number): CniError {
  try {
    const e = decodeJsonObject(Buffer.from(stdout, "utf8"), `the error of plugin ${type}`);
    if (typeof e.code === "number" && Number.isInteger(e.code) && typeof e.msg === "string") {
      return new CniError(e.code, e.msg, typeof e.details === "string" ? e.details : undefined);
    }
  } catch {
    // not the spec's error JSON: fall through to the text
  }
  const text = shortText((stderr || stdout).trim(), 2000) || `exit code ${code}`;
  return new CniError(ErrorCode.DelegateFailed, `plugin ${type} failed: ${text}`);
}
