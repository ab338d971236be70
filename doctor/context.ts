import type { Finding } from "./finding";
import type { Look } from "./look";
import type { Network } from "./networks";
import type { NodeView } from "./node";
import type { Pod } from "./pods";

/** What every check reads: the node as read at the start, the networks, the pods and their state. */
export interface CheckContext {
  look: Look;
  node: NodeView;
  networks: Network[];
  pods: Pod[];
  /** Pods whose networking doctor checks (not stale, not unplugged), with their condition. */
  condition: Map<Pod, PodCondition>;
  /** Things doctor could not look at (exit 2 when nothing is wrong). */
  cannot: string[];
  /** Things worth saying that are not findings. */
  notes: string[];
  /** The agent's state file when given; else the one in the agent conflist's IPAM data dir. */
  agentState?: string;
}

/**
 * live: the pod's interface is there; unplugged: its namespace is there but its veth is gone;
 * stale: the container is gone (its namespace is gone, or nothing of it is left on the node);
 * unknown: a macvlan or ipvlan pod whose namespace doctor was not told (nothing of it is on the node).
 */
export type PodCondition = "live" | "unplugged" | "stale" | "unknown";

export type Check = (ctx: CheckContext) => Promise<Finding[]>;

export const livePods = (ctx: CheckContext, net?: Network): Pod[] => ctx.pods.filter((p) => ctx.condition.get(p) === "live" && (!net || p.network === net));
