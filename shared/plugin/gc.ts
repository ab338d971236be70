import { CniError, ErrorCode, isCniError } from "../cni/errors";

/**
 * The end of an interface plugin's GC: its own removals (masquerade entries) have run and failed
 * with `ownErrors`; then IPAM's GC. When IPAM's refusal is the only failure, it is the answer as
 * IPAM gave it, so its code says what is wrong (7 for an invalid `ipam` section, not the 5 of a
 * removal that failed); otherwise code 5 names every failure.
 */
export async function finishGc(plugin: string, ownErrors: string[], ipamGc?: () => Promise<void>): Promise<void> {
  const errors = [...ownErrors];
  let ipamError: unknown;
  if (ipamGc) {
    try {
      await ipamGc();
    } catch (e) {
      ipamError = e;
      errors.push(e instanceof Error ? e.message : String(e));
    }
  }
  if (!errors.length) return;
  if (isCniError(ipamError) && ownErrors.length === 0) throw ipamError;
  throw new CniError(ErrorCode.IoFailure, `${plugin}: GC could not remove everything`, errors.join("; "));
}
