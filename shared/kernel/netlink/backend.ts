import type { Op } from "../ops";
import { runSteps, StepsResult, writeSysctls } from "../steps";
import { inNetns, withSession } from "./session";
import { hostNetns } from "../netns";
import { isSlowBatch, slowOpRunner } from "./offload";
import { netlinkAvailable } from "../../sys/syscalls";
import { NlOp, translate } from "./translate";

const message = (e: unknown): string => (e as Error)?.message ?? String(e);

/** The ip operations of a batch, over one rtnetlink socket in `netns` (also a worker thread's job). */
export function runIp(netns: string | undefined, ops: NlOp[], force: boolean): StepsResult {
  try {
    return withSession(netns, (s) => runSteps(ops, force, (op) => s.apply(op), (_op, e) => message(e)));
  } catch (e) {
    // The namespace or the socket could not be opened: nothing was applied.
    return { code: 1, stdout: "", stderr: message(e), failedAt: 0 };
  }
}

/** Sysctls of another namespace: written by this thread while it is inside that namespace. */
function runSysctls(netns: string, ops: Extract<Op, { tool: "sysctl" }>[], force: boolean): StepsResult {
  try {
    return inNetns(netns, () => writeSysctls(ops, force));
  } catch (e) {
    return { code: 1, stdout: "", stderr: message(e), failedAt: 0 };
  }
}

/**
 * Runs a batch in-process over rtnetlink when this runtime has the FFI and every operation is one
 * we can translate; undefined means "run it with `ip -batch` instead". Slow operations go to the
 * runner the resident server registered (offload.ts), when there is one; `netns` undefined is then
 * the host side's, resolved here, before the call gives the thread away.
 */
export function runBatchInProcess(tool: Op["tool"], netns: string | undefined, ops: Op[], force: boolean): StepsResult | Promise<StepsResult> | undefined {
  if (!netlinkAvailable()) return undefined;
  if (tool === "sysctl" && netns !== undefined) return runSysctls(netns, ops as Extract<Op, { tool: "sysctl" }>[], force);
  const translated = translateAll(tool, ops);
  if (!translated) return undefined;
  const runner = slowOpRunner();
  if (runner && isSlowBatch(translated)) return runner(netns ?? hostNetns(), translated, force);
  return runIp(netns, translated, force);
}

/** A batch's operations as netlink requests, or undefined when one of them is not translatable. */
function translateAll(tool: Op["tool"], ops: Op[]): NlOp[] | undefined {
  if (tool !== "ip") return undefined;
  const translated: NlOp[] = [];
  for (const op of ops) {
    const t = op.tool === "ip" ? translate(op.argv) : undefined;
    if (!t) return undefined;
    translated.push(t);
  }
  return translated;
}
