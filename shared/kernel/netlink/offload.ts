import type { StepsResult } from "../steps";
import type { NlOp } from "./translate";

/**
 * Some kernel operations sleep in the kernel for a long time: deleting a veth waits for RCU grace
 * periods (~20 ms here) inside the netlink send itself. An exec'd plugin simply waits. The
 * resident server runs many calls in one thread, where that wait would stall every other call
 * (a burst of 20 DELs ran one after another), so it registers a runner that performs these
 * operations on another thread and resolves when they are done. Same operations, same order,
 * same result; only who waits changes.
 */
export type SlowOpRunner = (netns: string | undefined, ops: NlOp[], force: boolean) => Promise<StepsResult>;

let runner: SlowOpRunner | undefined;

export const slowOpRunner = (): SlowOpRunner | undefined => runner;

export function setSlowOpRunner(r: SlowOpRunner | undefined): void {
  runner = r;
}

/** Operations worth handing to another thread: link deletions (a veth's takes the longest). */
export const isSlowBatch = (ops: NlOp[]): boolean => ops.length > 0 && ops.every((op) => op.op === "dellink");
