import { fs } from "../shared/lazy";
import type { DeletionBatch } from "../shared/kernel/netlink/delete-together";
import type { SlowOpRunner } from "../shared/kernel/netlink/offload";
import type { StepsResult } from "../shared/kernel/steps";

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
 * other on the rtnl lock, and the second one's batch is smaller).
 */
export function deletionLanes(dispatch: Dispatch, keyOf: (netns: string | undefined) => string | undefined): SlowOpRunner {
  const lanes = new Map<string, { waiting: Waiting[]; running: boolean }>();

  const pump = (key: string): void => {
    const lane = lanes.get(key)!;
    if (lane.running) return;
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
    if (!lane) lanes.set(key, (lane = { waiting: [], running: false }));
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
