import type { Result } from "../../shared/cni/result";
import { checkIfname, checkMac, checkMtu, Plan, setLink } from "../../shared/kernel/ops";
import { configureInterfaceOps } from "../../shared/plugin/configure";
import type { MacvlanConfig } from "./config";

export interface AddInput {
  cfg: MacvlanConfig;
  /** The resolved master. */
  master: string;
  ifname: string;
  netns: string;
  mac: string;
  ipam: Pick<Result, "ips" | "routes">;
}

/**
 * A macvlan child of the master, created straight into the pod's namespace under its final name
 * (names are unique per namespace, so no temporary name is needed); with `linkInContainer` the
 * master is in the pod and the child is made there. It has its own MAC (set here, so the result
 * needs no lookup). Then the usual pod side: addresses, up, routes; L2 only: just up.
 */
export function planAdd(input: AddInput): { plan: Plan; result: Omit<Result, "cniVersion"> } {
  const { cfg, netns, ifname } = input;
  const argv = ["link", "add", "link", checkIfname(input.master, "master"), "name", checkIfname(ifname)];
  if (cfg.mtu) argv.push("mtu", checkMtu(cfg.mtu));
  argv.push("address", checkMac(input.mac));
  if (!cfg.linkInContainer) argv.push("netns", netns);
  argv.push("type", "macvlan", "mode", cfg.mode);
  if (cfg.bcqueuelen !== undefined) argv.push("bcqueuelen", String(Math.trunc(cfg.bcqueuelen)));
  // No undo here: the link lives in the pod whichever namespace creates it; the caller deletes it
  // there if a later step fails.
  const plan: Plan = [{ tool: "ip", netns: cfg.linkInContainer ? netns : undefined, argv }];
  const ips = (input.ipam.ips ?? []).map((i) => ({ ...i, interface: 0 }));
  const routes = input.ipam.routes ?? [];
  if (ips.length) plan.push(...configureInterfaceOps(netns, ifname, ips, routes));
  else plan.push(setLink({ netns, name: ifname, up: true }));
  return {
    plan,
    result: {
      interfaces: [{ name: ifname, mac: input.mac, sandbox: netns }],
      ips: ips.length ? ips : undefined,
      routes: routes.length ? routes : undefined,
      dns: cfg.dns,
    },
  };
}
