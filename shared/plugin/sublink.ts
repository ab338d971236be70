import { delegate } from "../cni/delegate";
import { delegateContext } from "../cni/ipam";
import type { Request } from "../cni/skeleton";
import { applyBestEffort, applyPlan, KernelError } from "../kernel/apply";
import { deleteLink, Plan } from "../kernel/ops";
import { netnsState } from "../kernel/netns";

/** The verbs macvlan and ipvlan share: their pod link is all they make; the rest is IPAM's. */
type SublinkRequest = Request<{ ipamType?: string }>;

/**
 * Applies an ADD plan whose first operation creates the pod's link; if a later one fails, the link
 * is deleted in the pod (the plan's own undo cannot: it is made from the host, into the pod).
 */
export async function applySublinkPlan(req: SublinkRequest, plan: Plan): Promise<void> {
  try {
    await applyPlan(plan, { trace: req.trace });
  } catch (e) {
    if (e instanceof KernelError && e.applied > 0) await applyBestEffort([deleteLink({ netns: req.netns, name: req.ifname })], { trace: req.trace });
    throw e;
  }
}

/** Best effort and idempotent; no master lookup, so DEL works when the master is gone. */
export async function deleteSublink(req: SublinkRequest): Promise<void> {
  if (req.netns && netnsState(req.netns) === "present") {
    await applyBestEffort([deleteLink({ netns: req.netns, name: req.ifname })], { trace: req.trace });
  }
  if (req.config.ipamType) await delegate("DEL", req.config.ipamType, delegateContext(req));
}

/** GC and STATUS: only IPAM holds state for these plugins. */
export const ipamOnly =
  (command: "GC" | "STATUS") =>
  async (req: SublinkRequest): Promise<void> => {
    if (req.config.ipamType) await delegate(command, req.config.ipamType, delegateContext(req));
  };
