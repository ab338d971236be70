import { CniError, ErrorCode } from "../cni/errors";
import { Op, Plan, nsPrefix, renderShell, sysctlPath } from "./ops";
import { runBatchInProcess } from "./netlink/backend";
import { inNetns } from "./netns";
import { StepsResult, writeSysctls } from "./steps";
import { runCommand, RunResult } from "./run";
import { Tracer } from "./trace";
import { faultAfterBatch, faultBeforeBatch } from "./fault-point";

/** Runs one command with `input` on stdin; injectable so planning logic can be tested without root. */
export type Runner = (argv: string[], input: string) => Promise<RunResult>;

export interface ApplyOptions {
  runner?: Runner;
  trace?: Tracer;
  /** Writes a host sysctl; defaults to writing /proc/sys directly (no process). */
  writeSysctl?: (key: string, value: string) => void;
}

/** A batch: consecutive operations for the same tool and namespace, run by one process. */
interface Batch {
  tool: Op["tool"];
  netns?: string;
  ops: Op[];
}

export function groupIntoBatches(plan: Plan): Batch[] {
  const batches: Batch[] = [];
  for (const op of plan) {
    const last = batches[batches.length - 1];
    // Netfilter transactions stay one per batch so that a failure names its script.
    if (last && last.tool === op.tool && last.netns === op.netns && op.tool !== "nft" && op.tool !== "iptables") last.ops.push(op);
    else batches.push({ tool: op.tool, netns: op.netns, ops: [op] });
  }
  return batches;
}

export { sysctlPath };

function batchCommand(b: Batch, force: boolean): { argv: string[]; input: string } {
  const pre = nsPrefix(b.netns);
  switch (b.tool) {
    case "ip":
    case "bridge":
      return {
        argv: [...pre, b.tool, ...(force ? ["-force"] : []), "-batch", "-"],
        input: b.ops.map((op) => (op.tool === "ip" || op.tool === "bridge" ? op.argv.join(" ") : "")).join("\n") + "\n",
      };
    case "sysctl":
      return { argv: [...pre, "sysctl", "-q", "-w", ...b.ops.map((op) => (op.tool === "sysctl" ? `${op.key}=${op.value}` : ""))], input: "" };
    case "nft":
      return { argv: [...pre, "nft", "-f", "-"], input: b.ops.map((op) => (op.tool === "nft" ? op.script : "")).join("\n") };
    case "iptables": {
      const op = b.ops[0] as Extract<Op, { tool: "iptables" }>;
      return { argv: [...pre, op.family === 4 ? "iptables-restore" : "ip6tables-restore", "--noflush"], input: op.input };
    }
  }
}

/** Failure of a kernel command, with how many operations of the plan took effect before it. */
export class KernelError extends CniError {
  constructor(
    msg: string,
    details: string,
    readonly applied: number,
  ) {
    super(ErrorCode.KernelOperationFailed, msg, details);
  }
}

/** `ip -batch` names the failing line as `Command failed -:N`; the lines before it took effect. */
function appliedBeforeFailure(b: Batch, result: BatchResult): number {
  if (result.failedAt !== undefined) return result.failedAt;
  if (b.tool !== "ip" && b.tool !== "bridge") return 0;
  const m = /Command failed -:(\d+)/.exec(result.stderr);
  return m ? Math.max(0, Number(m[1]) - 1) : 0;
}

/** A batch's outcome; `failedAt` names the failing operation when no `Command failed -:N` does. */
type BatchResult = StepsResult;

async function runBatch(b: Batch, o: ApplyOptions, force = false): Promise<BatchResult> {
  const nft = b.tool === "nft" ? b.ops[0] : undefined;
  if (nft?.tool === "nft" && nft.setup) {
    const run = o.runner ?? runCommand;
    const argv = [...nsPrefix(b.netns), "nft", "-f", "-"];
    const fast = await run(argv, nft.script);
    if (fast.code === 0) return fast;
    o.trace?.write(["# (the transaction above failed: the nft table was missing, or an element was left by another attachment; it ran again with the table's declarations, those elements removed first)"]);
    return run(argv, nft.setup + nft.script);
  }
  // /proc/sys/net shows the namespace of the thread that opens it: the host side's.
  if (b.tool === "sysctl" && !b.netns) return inNetns(undefined, () => writeSysctls(b.ops as Extract<Op, { tool: "sysctl" }>[], force, o.writeSysctl));
  // In a compiled binary, ip operations and a pod's sysctls go over rtnetlink: no process at all.
  // An injected runner (tests of the planning logic) sees every batch as a command.
  if (!o.runner) {
    const inProcess = runBatchInProcess(b.tool, b.netns, b.ops, force);
    if (inProcess) return inProcess;
  }
  const { argv, input } = batchCommand(b, force);
  return (o.runner ?? runCommand)(argv, input);
}

/**
 * Applies a plan: one process per batch (host sysctls need none). On failure it undoes, in reverse
 * order and best effort, what the plan had done so far, and throws a KernelError.
 */
export async function applyPlan(plan: Plan, o: ApplyOptions = {}): Promise<void> {
  const done: Op[] = [];
  for (const b of groupIntoBatches(plan)) {
    o.trace?.write(b.ops.map(renderShell));
    const step = faultBeforeBatch();
    let result: BatchResult;
    try {
      result = await runBatch(b, o);
    } catch (e) {
      result = { code: -1, stdout: "", stderr: (e as Error).message };
    }
    faultAfterBatch(step);
    if (result.code !== 0) {
      const applied = appliedBeforeFailure(b, result);
      done.push(...b.ops.slice(0, applied));
      const failed = b.ops[applied] ?? b.ops[0];
      await undoOps(done, o);
      throw new KernelError(
        `kernel operation failed: ${renderShell(failed)}`,
        result.stderr.trim() || `exit code ${result.code}`,
        done.length,
      );
    }
    done.push(...b.ops);
  }
}

/** The undo operations of `done`, newest first. */
export function undoPlan(done: Op[]): Plan {
  const undo: Plan = [];
  for (const op of [...done].reverse()) {
    if ((op.tool === "ip" || op.tool === "bridge") && op.undo) undo.push({ tool: op.tool, netns: op.netns, argv: op.undo });
    if (op.tool === "nft" && op.undo) undo.push({ tool: "nft", netns: op.netns, script: op.undo });
    if (op.tool === "iptables" && op.undo) undo.push({ tool: "iptables", family: op.family, netns: op.netns, input: op.undo });
  }
  return undo;
}

/** Best effort: runs every undo even if some fail (the object may already be gone). */
export async function undoOps(done: Op[], o: ApplyOptions): Promise<void> {
  const undo = undoPlan(done);
  if (!undo.length) return;
  o.trace?.write(["# undoing the operations above", ...undo.map(renderShell)]);
  for (const b of groupIntoBatches(undo)) {
    try {
      await runBatch(b, o, true);
    } catch {
      // Nothing more to do: the rollback is best effort and the original error is reported.
    }
  }
}

/** Runs a plan ignoring failures of single operations (for DEL, where things may be gone already). */
export async function applyBestEffort(plan: Plan, o: ApplyOptions = {}): Promise<RunResult[]> {
  const results: RunResult[] = [];
  for (const b of groupIntoBatches(plan)) {
    o.trace?.write(b.ops.map(renderShell));
    const step = faultBeforeBatch();
    try {
      results.push(await runBatch(b, o, true));
    } catch (e) {
      results.push({ code: -1, stdout: "", stderr: (e as Error).message });
    }
    faultAfterBatch(step);
  }
  return results;
}
