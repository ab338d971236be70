import { fs } from "../lazy";
import { Op, sysctlPath } from "./ops";

/** A batch's outcome, as a process reports it; `failedAt` names the operation that failed. */
export interface StepsResult {
  code: number;
  stdout: string;
  stderr: string;
  failedAt?: number;
}

/**
 * Runs `step` on each item in order, as `ip -batch` runs its lines. A failure stops it there
 * (`failedAt`), unless `force` (as `ip -force`), which tries every item and reports every failure.
 * A failure for which `problem` gives no text is no failure (an optional step).
 */
export function runSteps<T>(items: T[], force: boolean, step: (item: T) => void, problem: (item: T, e: unknown) => string | undefined): StepsResult {
  const errors: string[] = [];
  // An index loop: entries() and its iterator are builtins whose first use costs ~0.2 ms (JIT off).
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    try {
      step(item);
    } catch (e) {
      const text = problem(item, e);
      if (text === undefined) continue;
      if (!force) return { code: 1, stdout: "", stderr: text, failedAt: i };
      errors.push(text);
    }
  }
  return { code: errors.length ? 1 : 0, stdout: "", stderr: errors.join("\n") };
}

type SysctlOp = Extract<Op, { tool: "sysctl" }>;

export const writeSysctlFile = (key: string, value: string): void => fs().writeFileSync(sysctlPath(key), value);

/**
 * Sysctls written one by one by this thread, so in the namespace it is in (the host's, or a pod's
 * while it is inside it). An optional one may not exist (e.g. IPv6 disabled).
 */
export function writeSysctls(ops: SysctlOp[], force: boolean, write = writeSysctlFile): StepsResult {
  return runSteps(ops, force, (op) => write(op.key, op.value), (op, e) => (op.optional ? undefined : `sysctl ${op.key}: ${(e as Error).message}`));
}
