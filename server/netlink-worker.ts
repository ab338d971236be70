import { DeletionBatch, runDeletions } from "../shared/kernel/netlink/delete-together";

/**
 * A thread of the resident server's netlink pool (netlink-pool.ts): it performs the deletions it
 * is sent, in the namespace it is told (a path this process can open: the caller's
 * /proc/self/fd/N), with the same code an exec'd plugin runs, and answers with the outcomes, one
 * per batch. Its own thread's namespace switches never touch the main thread's.
 */
export interface Job {
  id: number;
  netns?: string;
  batches: DeletionBatch[];
}

const scope = globalThis as unknown as { onmessage: (e: { data: Job }) => void; postMessage: (m: unknown) => void };
scope.onmessage = (e) => {
  const { id, netns, batches } = e.data;
  scope.postMessage({ id, results: runDeletions(netns, batches) });
};
