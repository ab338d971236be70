import { fs } from "../lazy";
import { CniError, ErrorCode } from "../cni/errors";

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
