import { fs } from "../lazy";
import { CniError, ErrorCode } from "../cni/errors";
import { NEWEST_VERSION } from "../cni/versions";
import { setns } from "../sys/syscalls";

const NSFS_MAGIC = 0x6e736673;
const PROC_SUPER_MAGIC = 0x9fa0;

export type NetnsState = "present" | "missing" | "not-a-netns";

/** Whether `path` is a network namespace, as the reference plugins tell (filesystem magic). */
export function netnsState(path: string): NetnsState {
  try {
    const type = fs().statfsSync(path).type;
    return type === NSFS_MAGIC || type === PROC_SUPER_MAGIC ? "present" : "not-a-netns";
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return "missing";
    throw new CniError(ErrorCode.InvalidEnvironment, `CNI_NETNS ${JSON.stringify(path)} cannot be inspected`, (e as Error).message);
  }
}

/** ADD and CHECK need the namespace to exist. */
export function requireNetns(path: string): void {
  const state = netnsState(path);
  if (state === "missing") throw new CniError(ErrorCode.InvalidEnvironment, `CNI_NETNS ${JSON.stringify(path)} does not exist`);
  if (state === "not-a-netns") throw new CniError(ErrorCode.InvalidEnvironment, `CNI_NETNS ${JSON.stringify(path)} is not a network namespace`);
}

/**
 * Where a plugin's host side is. An exec'd plugin's is its own namespace (undefined: no switch).
 * The resident server runs each call on behalf of a caller in some namespace (a node's, a lab
 * node's, a test's) and sets a source that answers with that caller's namespace for the call.
 */
let hostSource: () => string | undefined = () => undefined;
export const hostNetns = (): string | undefined => hostSource();
export function setHostNetnsSource(source: () => string | undefined): void {
  hostSource = source;
}

/**
 * Back to the plugin's own namespace. If that ever failed, every later step (and every process it
 * starts) would act on the pod's namespace: stop at once, with the error on stdout as the spec says.
 */
function restoreHome(home: number): void {
  try {
    setns(home);
  } catch (e) {
    const msg = `cannot return to the plugin's network namespace: ${(e as Error).message}`;
    console.log(JSON.stringify({ cniVersion: NEWEST_VERSION, code: ErrorCode.KernelOperationFailed, msg }, null, 4));
    console.error(`patchcord: ${msg}`);
    process.exit(1);
  }
}

/**
 * Runs `fn` with the calling thread in the network namespace at `path` (the host side's, see
 * hostNetns, when undefined), then moves it back. `fn` must be synchronous: nothing else may run
 * while the thread is in another namespace (so a switch never spans an `await`).
 */
export function inNetns<T>(path: string | undefined, fn: () => T): T {
  const where = path ?? hostNetns();
  if (where === undefined) return fn();
  const target = fs().openSync(where, "r");
  let home: number | undefined;
  try {
    home = fs().openSync("/proc/thread-self/ns/net", "r");
    setns(target);
    try {
      return fn();
    } finally {
      restoreHome(home);
    }
  } finally {
    if (home !== undefined) fs().closeSync(home);
    fs().closeSync(target);
  }
}

