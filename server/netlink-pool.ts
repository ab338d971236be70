import { DeletionBatch, runDeletions } from "../shared/kernel/netlink/delete-together";
import type { SlowOpRunner } from "../shared/kernel/netlink/offload";
import { deletionLanes, namespaceKey } from "./deletion-lanes";
import type { StepsResult } from "../shared/kernel/steps";
import type { Job } from "./netlink-worker";

interface WorkerLike {
  unref?(): void;
  onmessage: ((e: { data: { id: number; results: StepsResult[] } }) => void) | null;
  onerror: ((e: { message?: string }) => void) | null;
  postMessage(job: Job): void;
  terminate(): void;
}

/**
 * A few threads for the kernel operations that sleep (offload.ts): while one of them waits for a
 * veth's deletion, the server's thread goes on with other calls, as separate plugin processes
 * would. Threads start on first use and stay. If a thread cannot start (a build without the worker
 * entry), its jobs and all later ones run right here, as before. Deletions in one namespace are coalesced first (deletion-lanes.ts).
 */
export function netlinkPool(size = 4, log: (line: string) => void = () => undefined): { runner: SlowOpRunner; stop(): void; watch(openCalls: () => number): void } {
  let openCalls = () => 0;
  const Worker = (globalThis as { Worker?: new (url: string) => WorkerLike }).Worker;
  const threads: (WorkerLike | undefined)[] = new Array(size).fill(undefined);
  const busy = new Array<number>(size).fill(0);
  const pending = new Map<number, { thread: number; job: Job; resolve: (r: StepsResult[]) => void }>();
  let next = 1;
  let unavailable = !Worker;

  const start = (): WorkerLike | undefined => {
    if (unavailable) return undefined;
    try {
      // The worker is a second entry point of the compiled binary (scripts/build.mjs), found
      // relative to this module; Bun gives its CommonJS bundles import.meta as well.
      // @ts-expect-error: TypeScript allows import.meta only in ES module output
      const w = new Worker!(new URL("./netlink-worker.ts", import.meta.url).href);
      w.onmessage = (e) => {
        const p = pending.get(e.data.id);
        if (!p) return;
        pending.delete(e.data.id);
        busy[p.thread]--;
        p.resolve(e.data.results);
      };
      w.onerror = (e) => {
        // runDeletions catches what its operations throw, so an error here is the thread itself
        // failing to load or start: its jobs never ran. They run here, and so does everything after.
        log(`no netlink threads (${e.message ?? "a thread failed to start"}): slow kernel operations run on the main thread`);
        unavailable = true;
        threads.fill(undefined);
        busy.fill(0);
        for (const [id, p] of [...pending]) {
          pending.delete(id);
          p.resolve(runDeletions(p.job.netns, p.job.batches));
        }
      };
      // An idle thread must not keep the process alive once the server has stopped.
      w.unref?.();
      return w;
    } catch (e) {
      unavailable = true;
      log(`no netlink threads (${(e as Error).message}): slow kernel operations run on the main thread`);
      return undefined;
    }
  };

  /** Runs the batches on the least busy thread (or here, without threads). */
  const dispatch = (netns: string | undefined, batches: DeletionBatch[]): Promise<StepsResult[]> => {
    let i = 0;
    for (let j = 1; j < size; j++) if (busy[j] < busy[i]) i = j;
    const thread = (threads[i] ??= start());
    if (!thread) return Promise.resolve(runDeletions(netns, batches));
    const id = next++;
    busy[i]++;
    const job: Job = { id, netns, batches };
    return new Promise((resolve) => {
      pending.set(id, { thread: i, job, resolve });
      thread.postMessage(job);
    });
  };

  const runner = deletionLanes(dispatch, namespaceKey, () => openCalls());

  const stop = () => {
    for (const t of threads) t?.terminate();
    threads.fill(undefined);
  };
  return {
    runner,
    stop,
    watch(f) {
      openCalls = f;
    },
  };
}
