import { capped, CniError, ErrorCode, toCniError } from "./errors";
import { Command, Invocation, readCommand, readInvocation } from "./env";
import { networkNameProblem } from "./names";
import { formatResult, parseResult, Result } from "./result";
import { isSupportedVersion, NEWEST_VERSION, requireSupportedVersion, requireVerbAllowed, SpecVersion, SUPPORTED_VERSIONS, versionResponse } from "./versions";
import { createTracer, Tracer } from "../kernel/trace";
import { fs } from "../lazy";
import { decodeJsonObject, quoted } from "./json-input";

/** Everything a verb handler gets: the validated environment, the config and where to log. */
export interface Request<C> extends Invocation {
  /** The spec version of the config (and of the result we print). */
  version: SpecVersion;
  /** The network name (safe as a directory name). */
  network: string;
  /** The plugin's own view of the config, validated by its `parseConfig`. */
  config: C;
  /** The whole decoded stdin. */
  raw: Record<string, unknown>;
  /** The exact stdin bytes, passed unchanged to delegated plugins. */
  stdin: Buffer;
  /** The parsed `prevResult`, when a previous plugin or the runtime sent one. */
  prevResult?: Result;
  env: Record<string, string | undefined>;
  trace: Tracer;
  /** The invocation's stderr (a delegated plugin's stderr goes there too). */
  stderr?: (text: string) => void;
}

export interface PluginFuncs<C> {
  /** Validates the decoded stdin for this plugin; throws CniError 7 (invalid) or 2 (unsupported key). */
  parseConfig(raw: Record<string, unknown>, inv: Invocation): C;
  add(req: Request<C>): Promise<Omit<Result, "cniVersion">>;
  del(req: Request<C>): Promise<void>;
  check(req: Request<C>): Promise<void>;
  gc(req: Request<C>): Promise<void>;
  status(req: Request<C>): Promise<void>;
}

export interface About {
  /** The name the binary was invoked as. */
  name: string;
  /** patchcord's version. */
  version: string;
}

export interface PluginIO {
  env: Record<string, string | undefined>;
  readStdin(): Promise<Buffer>;
  stdout(text: string): void;
  stderr(text: string): void;
}

export const usageLine = (about: About): string =>
  `${about.name} (patchcord ${about.version}): a CNI plugin; run it from a container runtime with CNI_COMMAND set. CNI protocol versions supported: ${SUPPORTED_VERSIONS.join(", ")}`;

const decodeConfig = (stdin: Buffer): Record<string, unknown> => decodeJsonObject(stdin, "network config");

/** The resident server's limit on a call's stdin (server/protocol.ts MAX_STDIN): exec mode answers alike. */
export const MAX_STDIN_BYTES = 64 * 1024 * 1024;

async function readAll(io: PluginIO): Promise<Buffer> {
  let stdin: Buffer;
  try {
    stdin = await io.readStdin();
  } catch (e) {
    throw new CniError(ErrorCode.IoFailure, "error reading network config from stdin", (e as Error).message);
  }
  if (stdin.length > MAX_STDIN_BYTES) throw new CniError(ErrorCode.IoFailure, `error reading network config from stdin: more than ${MAX_STDIN_BYTES} bytes`);
  return stdin;
}

/** VERSION reads no stdin (libcni sends none) and gives the same answer for every plugin. */
const runVersion = (io: PluginIO): void => io.stdout(versionResponse() + "\n");

async function buildRequest<C>(
  funcs: PluginFuncs<C>,
  inv: Invocation,
  io: PluginIO,
  trace: Tracer,
  onVersion: (v: SpecVersion) => void,
): Promise<Request<C>> {
  const stdin = await readAll(io);
  const raw = decodeConfig(stdin);
  const version = requireSupportedVersion(raw.cniVersion);
  onVersion(version); // later errors are labelled with the config's version
  if (typeof raw.name !== "string") throw new CniError(ErrorCode.InvalidNetworkConfig, "missing network name", 'the config has no string "name"');
  const nameProblem = networkNameProblem(raw.name);
  if (nameProblem) throw new CniError(ErrorCode.InvalidNetworkConfig, `invalid network name ${quoted(raw.name)}: ${nameProblem}`);
  requireVerbAllowed(inv.command, version);
  const prevResult = raw.prevResult === undefined || raw.prevResult === null ? undefined : parseResult(raw.prevResult, version);
  const config = funcs.parseConfig(raw, inv);
  return { ...inv, version, network: raw.name, config, raw, stdin, prevResult, env: io.env, trace, stderr: io.stderr };
}

/**
 * The stderr line for a failure: what went wrong, never a stack trace (stdin is the caller's, so a
 * stack would only tell an attacker where our code broke), unless PATCHCORD_TRACE asks for it.
 */
export function failureText(who: string, e: unknown, err: CniError, env: Record<string, string | undefined>): string {
  const trace = env.PATCHCORD_TRACE ?? "";
  if (!(e instanceof CniError) && e instanceof Error && e.stack && trace !== "" && trace !== "0") return `${who}: ${e.stack}\n`;
  return `${who}: ${capped(err.message)}${err.details ? `: ${capped(err.details)}` : ""}\n`;
}

/**
 * Runs one invocation: validates the environment and config, dispatches the verb and prints the
 * result or the spec's error JSON on stdout. Returns the exit code (never throws).
 */
export async function runPlugin<C>(funcs: PluginFuncs<C>, about: About, io: PluginIO): Promise<number> {
  let version: string = NEWEST_VERSION;
  const trace = createTracer(io.env, about.name, io.stderr);
  try {
    if (!io.env.CNI_COMMAND) io.stderr(usageLine(about) + "\n");
    const command: Command = readCommand(io.env);
    if (command === "VERSION") {
      runVersion(io);
      return 0;
    }
    const req = await buildRequest(funcs, readInvocation(io.env), io, trace, (v) => (version = v));
    trace.write([`# config read and validated`]);
    switch (command) {
      case "ADD": {
        const result = await funcs.add(req);
        io.stdout(JSON.stringify(formatResult(result, req.version), null, 4) + "\n");
        break;
      }
      case "DEL":
        await funcs.del(req);
        break;
      case "CHECK":
        await funcs.check(req);
        break;
      case "GC":
        await funcs.gc(req);
        break;
      case "STATUS":
        await funcs.status(req);
        break;
    }
    return 0;
  } catch (e) {
    const err = toCniError(e);
    io.stderr(failureText(about.name, e, err, io.env));
    const shownVersion = isSupportedVersion(version) ? version : NEWEST_VERSION;
    io.stdout(JSON.stringify(err.toJSON(shownVersion), null, 4) + "\n");
    return 1;
  } finally {
    trace.close();
  }
}

function readStdinStream(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on("data", (c: Buffer) => chunks.push(c));
    process.stdin.on("end", () => resolve(Buffer.concat(chunks)));
    process.stdin.on("error", reject);
  });
}

/** Drops the one trailing newline that console.log/console.error add back. */
const line = (text: string): string => (text.endsWith("\n") ? text.slice(0, -1) : text);

/**
 * The real process: environment, stdin, stdout and stderr of this executable. Output goes through
 * console.log/console.error, which a compiled Bun binary has ready at start-up, while touching
 * process.stdout first costs it about 10 ms.
 */
export function processIO(): PluginIO {
  return {
    env: process.env,
    readStdin: async () => {
      try {
        return fs().readFileSync(0);
      } catch (e) {
        // A non-blocking stdin (some callers set O_NONBLOCK) cannot be read synchronously.
        if ((e as NodeJS.ErrnoException).code === "EAGAIN") return readStdinStream();
        throw e;
      }
    },
    stdout: (t) => console.log(line(t)),
    stderr: (t) => console.error(line(t)),
  };
}
