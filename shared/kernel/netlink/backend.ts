import { fs } from "../../lazy";
import { Op, sysctlPath } from "../ops";
import { inNetns, NetlinkError, withSession } from "./session";
import { netlinkAvailable, SyscallError } from "../../sys/syscalls";
import { NlOp, translate } from "./translate";

/** The outcome of a batch, as the process runner reports it (`failedAt` names the failing op). */
export interface NetlinkBatchResult {
  code: number;
  stdout: string;
  stderr: string;
  failedAt?: number;
}

const failure = (e: unknown, at: number): NetlinkBatchResult => ({
  code: 1,
  stdout: "",
  stderr: e instanceof NetlinkError || e instanceof SyscallError ? e.message : String((e as Error)?.message ?? e),
  failedAt: at,
});

function runIp(netns: string | undefined, ops: NlOp[], force: boolean): NetlinkBatchResult {
  const errors: string[] = [];
  try {
    return withSession(netns, (s) => {
      for (const [i, op] of ops.entries()) {
        try {
          s.apply(op);
        } catch (e) {
          if (!force) return failure(e, i);
          errors.push(failure(e, i).stderr);
        }
      }
      return { code: errors.length ? 1 : 0, stdout: "", stderr: errors.join("\n") };
    });
  } catch (e) {
    // The namespace or the socket could not be opened: nothing was applied.
    return failure(e, 0);
  }
}

/** Sysctls of another namespace: written by this thread while it is inside that namespace. */
function runSysctls(netns: string, ops: Extract<Op, { tool: "sysctl" }>[], force: boolean): NetlinkBatchResult {
  const errors: string[] = [];
  try {
    return inNetns(netns, () => {
      for (const [i, op] of ops.entries()) {
        try {
          fs().writeFileSync(sysctlPath(op.key), op.value);
        } catch (e) {
          if (op.optional) continue;
          const text = `sysctl: cannot set ${op.key}: ${(e as Error).message}`;
          if (!force) return { code: 1, stdout: "", stderr: text, failedAt: i };
          errors.push(text);
        }
      }
      return { code: errors.length ? 1 : 0, stdout: "", stderr: errors.join("\n") };
    });
  } catch (e) {
    return failure(e, 0);
  }
}

/**
 * Runs a batch in-process over rtnetlink when this runtime has the FFI and every operation is one
 * we can translate; undefined means "run it with `ip -batch` instead".
 */
export function runBatchInProcess(tool: Op["tool"], netns: string | undefined, ops: Op[], force: boolean): NetlinkBatchResult | undefined {
  if (!netlinkAvailable()) return undefined;
  if (tool === "sysctl" && netns !== undefined) return runSysctls(netns, ops as Extract<Op, { tool: "sysctl" }>[], force);
  if (tool !== "ip") return undefined;
  const translated: NlOp[] = [];
  for (const op of ops) {
    const t = op.tool === "ip" ? translate(op.argv) : undefined;
    if (!t) return undefined;
    translated.push(t);
  }
  return runIp(netns, translated, force);
}
