import { fs } from "../shared/lazy";
import type { DeletionBatch } from "../shared/kernel/netlink/delete-together";
import type { SlowOpRunner } from "../shared/kernel/netlink/offload";
import type { StepsResult } from "../shared/kernel/steps";

/**
 * How long the first deletion of a burst waits for others. The bench's 20-pod DEL wave against the
 * reference's 20 processes, 20 rounds each: 0.95-1.00x without, 0.71-0.78x at 5 ms, 0.83-0.86x at
 * 10, 1.05x at 20 (the wait then costs more than the kernel wait it saves).
 */
export const LINGER_MS = 5;

/** Runs batches of deletions in one namespace, one answer per batch. */
export type Dispatch = (netns: string | undefined, batches: DeletionBatch[]) => Promise<StepsResult[]>;

interface Waiting extends DeletionBatch {
  netns: string | undefined;
  resolve: (r: StepsResult) => void;
}

/**
 * Link deletions in one namespace form a lane. The first runs at once, alone, exactly as an exec'd
 * plugin would run it; those that arrive while it runs wait, and then go to the kernel together in
 * one job (delete-together.ts), and so on until the lane is empty. A kernel deletion takes about
 * as long for twenty links as for one, so a burst of 20 DELs pays it 2-4 times instead of 20.
 * One job at a time per namespace: two at once made the bench's burst slower (they wait for each
 * other on the rtnl lock, and the second one's batch is smaller). When other calls are open as the
 * first deletion arrives (a burst), it waits a moment for company: without it the first one ran
 * alone and the burst paid one kernel wait more.
 */
export function deletionLanes(
  dispatch: Dispatch,
  keyOf: (netns: string | undefined) => string | undefined,
  /** How many calls the server has open now (connected shims included). */
  openCalls: () => number = () => 0,
  lingerMs = LINGER_MS,
): SlowOpRunner {
  const lanes = new Map<string, { waiting: Waiting[]; running: boolean; lingering?: boolean }>();

  const pump = (key: string): void => {
    const lane = lanes.get(key)!;
    if (lane.running || lane.lingering) return;
    if (!lane.waiting.length) {
      lanes.delete(key);
      return;
    }
    const batch = lane.waiting.splice(0);
    lane.running = true;
    // Every waiting call holds its own descriptor of this namespace open until it is answered,
    // so the first one's path serves them all.
    const answer = (results: StepsResult[]) => batch.forEach((w, i) => w.resolve(results[i]));
    dispatch(
      batch[0].netns,
      batch.map(({ ops, force }) => ({ ops, force })),
    )
      .then(answer, (e: unknown) => answer(batch.map(() => ({ code: 1, stdout: "", stderr: (e as Error)?.message ?? String(e), failedAt: 0 }))))
      .finally(() => {
        lane.running = false;
        pump(key);
      });
  };

  return (netns, ops, force) => {
    const key = keyOf(netns);
    if (key === undefined) return dispatch(netns, [{ ops, force }]).then((r) => r[0]);
    let lane = lanes.get(key);
    if (!lane) {
      lanes.set(key, (lane = { waiting: [], running: false }));
      if (lingerMs > 0 && openCalls() > 1) {
        const l = lane;
        l.lingering = true;
        setTimeout(() => {
          l.lingering = false;
          pump(key);
        }, lingerMs);
      }
    }
    const waiting = lane.waiting;
    return new Promise((resolve) => {
      waiting.push({ netns, ops, force, resolve });
      pump(key);
    });
  };
}

/** Which namespace a path names (its nsfs inode), or undefined when it cannot be read. */
export function namespaceKey(netns: string | undefined): string | undefined {
  try {
    const st = fs().statSync(netns ?? "/proc/self/ns/net");
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}
