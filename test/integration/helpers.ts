import { existsSync } from "node:fs";
import { join } from "node:path";
import { runCommand, RunResult } from "../../shared/kernel/run";

export const ROOT = join(__dirname, "../..");
export const BIN = join(ROOT, "dist/bin");
/** The cnitool driver on libcni (conformance/cnitool/build.sh). */
export const CNITOOL = join(ROOT, "dist/cnitool");
export const REFERENCE_DIR = "/usr/lib/cni";
export const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
export const SPEC_VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;

/**
 * `test` when `ok`; otherwise a skipped test that says why. In CI a missing prerequisite is a
 * failure, not a skip, so that CI cannot pass without running the test.
 */
export function testIf(ok: boolean, why: string): jest.It {
  if (ok) return test;
  if (process.env.CI) {
    return ((name: string) => test(name, () => {
      throw new Error(`prerequisite missing in CI: ${why}`);
    })) as unknown as jest.It;
  }
  // eslint-disable-next-line no-console
  console.warn(`skipped: ${why}`);
  return test.skip;
}

export const haveBinaries = existsSync(join(BIN, "host-local"));
export const haveReference = existsSync(join(REFERENCE_DIR, "host-local"));

export interface PluginRun extends RunResult {
  json?: Record<string, unknown>;
}

/**
 * What a runtime's plugin process inherits beside the CNI variables: PATH, and in the test pass
 * with the resident server (scripts/test.mjs) the socket the shims are to use.
 */
export const callerEnv = (): Record<string, string> => ({
  PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
  ...(process.env.PATCHCORD_SOCKET ? { PATCHCORD_SOCKET: process.env.PATCHCORD_SOCKET } : {}),
});

/**
 * For a call that must run in the exec'd binary whatever the test pass (PATCHCORD_FFI=0 is the
 * binary's setting, which a resident server ignores): a socket no server listens on, so the shim
 * runs `patchcord` itself.
 */
export const EXEC_MODE: Record<string, string> = { PATCHCORD_SOCKET: "/nonexistent/patchcord-exec-mode.sock" };

/** Runs a plugin binary the way a runtime does: CNI_* environment and the config on stdin (argv `prefix` + binary). */
export async function execPlugin(binary: string, env: Record<string, string>, config: unknown, prefix: string[] = [], args: string[] = []): Promise<PluginRun> {
  const input = typeof config === "string" ? config : JSON.stringify(config);
  const r = await runCommand([...prefix, binary, ...args], input, { ...callerEnv(), ...env });
  let json: Record<string, unknown> | undefined;
  try {
    json = r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
  } catch {
    json = undefined;
  }
  return { ...r, json };
}

/** A unique, short prefix for names (netns, links) made by one test run. */
export const runId = (): string => `pc${process.pid.toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
