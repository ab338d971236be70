import { runCommand } from "../shared/kernel/run";
import { findExecutable } from "../shared/kernel/which";

/**
 * `ip` for the agent's route and link reads and writes: argv only, never a shell, and JSON output
 * with numeric protocol names (-N), so that our routing protocol reads the same whatever names
 * /etc/iproute2/rt_protos.d gives it.
 */
let ipPath: string | undefined;
const ipBinary = (): string => (ipPath ??= findExecutable("ip") ?? "ip");

export class IpError extends Error {
  constructor(
    readonly argv: string[],
    readonly stderr: string,
  ) {
    super(`${argv.join(" ")}: ${stderr.trim() || "failed"}`);
  }
}

export async function ip(args: string[]): Promise<void> {
  const argv = [ipBinary(), ...args];
  const r = await runCommand(argv);
  if (r.code !== 0) throw new IpError(argv, r.stderr);
}

/** `ip -N -j ARGS`, parsed; a failure throws IpError. */
export async function ipJson<T>(args: string[]): Promise<T[]> {
  const argv = [ipBinary(), "-N", "-j", ...args];
  const r = await runCommand(argv);
  if (r.code !== 0) throw new IpError(argv, r.stderr);
  const text = r.stdout.trim();
  return text ? (JSON.parse(text) as T[]) : [];
}

/** `ip -N -j ARGS` when it succeeds, else undefined with its error (for lookups that may find nothing). */
export async function ipJsonMaybe<T>(args: string[]): Promise<{ rows?: T[]; error?: string }> {
  try {
    return { rows: await ipJson<T>(args) };
  } catch (e) {
    if (e instanceof IpError) return { error: e.stderr.trim() };
    throw e;
  }
}
