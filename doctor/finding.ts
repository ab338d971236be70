/**
 * What doctor reports. Each finding has a stable id (scripts and the tests match on it), one line
 * saying what is wrong, the evidence (commands doctor ran and what they printed, so a person can
 * run them again), and the commands that would mend it (never run by doctor).
 */
export interface Evidence {
  command: string;
  output: string;
}

export interface Finding {
  id: FindingId;
  message: string;
  evidence: Evidence[];
  fix: string[];
  /** The network (conflist name) and pod it is about, when it is about one. */
  network?: string;
  pod?: { containerId: string; ifname: string; addresses: string[]; netns?: string };
}

/** Every id doctor can report, with what it means (the README and `--help` list them). */
export const FINDINGS = {
  "conflist-none": "the runtime would find no network config in the conf dir",
  "conflist-invalid": "the config the runtime picks (the first by name) does not parse or validate",
  "plugin-missing": "the config names a plugin that is not in the bin dir",
  "ip-forward-off": "a routed or gateway network with forwarding off for a family its pods use",
  "return-route-missing": "the node has no route back to a pod (veth-routed), or a live pod's host veth is gone",
  "gateway-unreachable": "a pod's gateway is not configured on the node's side of its link, or not reachable on the pod's link",
  "rp-filter-strict": "strict reverse-path filtering where the routes back are asymmetric: packets are dropped",
  "masquerade-missing": "ipMasq is configured but netfilter has no masquerade entry for a pod",
  "mtu-mismatch": "a pod's interface has a larger MTU than the bridge or the node's uplink",
  "stale-reservation": "an IPAM reservation whose container has no namespace or interface any more",
  "bridge-missing": "pods are reserved on a bridge network whose bridge is not there",
  "bridge-down": "the bridge of a bridge network is down",
  "bridge-port-down": "a pod's host veth is down or not attached to its bridge",
  "orphan-veth": "a host veth named as patchcord names them, for no reservation, whose pod's namespace has lost its name (held by something)",
  "host-veth-down": "a veth-routed pod's host veth is down (the node's route back goes with it)",
  "pod-link-down": "a pod's own interface is down",
  "node-route-missing": "the node agent wants a route to another node's podCIDR that the node does not have",
  "probe-failed": "--probe: the ping between two pods did not come back",
} as const;

export type FindingId = keyof typeof FINDINGS;

/** Something doctor could not read: it says so and exits 2 unless it found something wrong. */
export class CannotLook extends Error {}
