import { runIp } from "../shared/kernel/netlink/backend";
import type { NlOp } from "../shared/kernel/netlink/translate";

/**
 * A thread of the resident server's netlink pool (netlink-pool.ts): it performs the operations it
 * is sent, in the namespace it is told (a path this process can open: the caller's
 * /proc/self/fd/N), with the same code an exec'd plugin runs, and answers with the outcome.
 * Its own thread's namespace switches never touch the main thread's.
 */
export interface Job {
  id: number;
  netns?: string;
  ops: NlOp[];
  force: boolean;
}

const scope = globalThis as unknown as { onmessage: (e: { data: Job }) => void; postMessage: (m: unknown) => void };
scope.onmessage = (e) => {
  const { id, netns, ops, force } = e.data;
  scope.postMessage({ id, result: runIp(netns, ops, force) });
};
