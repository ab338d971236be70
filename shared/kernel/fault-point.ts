/**
 * Deterministic crash points for the kill -9 campaign (test/campaign/kill.test.ts): with
 * `PATCHCORD_FAULT` set, the process SIGKILLs itself at exactly that step, so a test can stop a
 * plugin after IPAM, or before or after its Nth kernel batch, without racing a watcher.
 *
 *   kill:after-ipam         once the IPAM ADD result is in, before any kernel change
 *   kill:before-batch:N     before the process's Nth kernel batch (1-based, counted across every
 *                           applyPlan and applyBestEffort; a failed plan's undo is not counted)
 *   kill:after-batch:N      once the Nth batch has returned
 *
 * Read from `process.env` once, when this module loads: in an exec'd plugin that is the call's
 * environment; in the resident server it is the server's own, never a caller's, so no caller can
 * make the server kill itself (a test starts a dedicated server with the variable set instead).
 * Unset, each point costs one comparison.
 */
type Fault = { at: "after-ipam" } | { at: "before-batch" | "after-batch"; n: number };

function parseFault(text: string | undefined): Fault | undefined {
  const m = /^kill:(after-ipam|before-batch|after-batch)(?::([1-9]\d{0,5}))?$/.exec(text ?? "");
  if (!m) return undefined;
  if (m[1] === "after-ipam") return m[2] === undefined ? { at: "after-ipam" } : undefined;
  return m[2] === undefined ? undefined : { at: m[1] as "before-batch" | "after-batch", n: Number(m[2]) };
}

const fault = parseFault(typeof process === "object" ? process.env.PATCHCORD_FAULT : undefined);
let batches = 0;

function die(): never {
  process.kill(process.pid, "SIGKILL");
  // SIGKILL to oneself is delivered before kill() returns; this only satisfies the type.
  throw new Error("PATCHCORD_FAULT: SIGKILL did not stop the process");
}

/** After the IPAM ADD result is in (shared/cni/ipam.ts). */
export function faultAfterIpam(): void {
  if (fault?.at === "after-ipam") die();
}

/**
 * Before a kernel batch runs (shared/kernel/apply.ts): numbers the batches of this process and
 * returns the number, for faultAfterBatch (batches of concurrent plans may return in any order).
 */
export function faultBeforeBatch(): number {
  if (!fault) return 0;
  batches++;
  if (fault.at === "before-batch" && fault.n === batches) die();
  return batches;
}

/** After batch `n` (from faultBeforeBatch) has returned, whatever its outcome. */
export function faultAfterBatch(n: number): void {
  if (fault?.at === "after-batch" && fault.n === n) die();
}
