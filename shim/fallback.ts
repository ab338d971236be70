/** What the shim runs when no server will take the call: the Bun binary, by execve. */

/**
 * What the Bun binary gets added to its environment in a fallback: the one place for start-up
 * flags. JavaScriptCore's JIT costs ~11 ms here before any JavaScript runs, while a CNI call runs
 * little code once: with it off a bridge ADD took 1.23x the empty Bun executable's time, with it
 * on 1.59x (bench, 30 rounds). A variable the caller set wins.
 */
export function fallbackAdditions(env: Record<string, string>): Record<string, string> {
  return env.BUN_JSC_useJIT === undefined ? { BUN_JSC_useJIT: "0" } : {};
}

export const BINARY_ENV = "PATCHCORD_BINARY";

const dirname = (path: string): string => {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
};

/**
 * The Bun binary: $PATCHCORD_BINARY, else `patchcord` beside the shim's own executable (the target
 * of /proc/self/exe, so a symlink to the shim finds the shim's directory and a hard link or copy
 * its own). `exe` is that target, or undefined when it cannot be read.
 */
export function pluginBinary(env: Record<string, string>, exe: string | undefined): string | undefined {
  if (env[BINARY_ENV]) return env[BINARY_ENV];
  if (exe === undefined) return undefined;
  const dir = dirname(exe);
  return (dir === "/" ? "" : dir) + "/patchcord";
}

/** The name a call was made under: the plugin the server is to run. */
export const basename = (path: string): string => path.slice(path.lastIndexOf("/") + 1);
