import type { IPConfig, Result, Route } from "../../shared/cni/result";
import { addRoute, checkIfname, checkMtu, Op, Plan, setLink } from "../../shared/kernel/ops";
import { configureInterfaceOps } from "../../shared/plugin/configure";
import { parsePrefix } from "../../shared/net/ip";
import type { IpvlanConfig } from "./config";

export interface AddInput {
  cfg: IpvlanConfig;
  master: string;
  /** The master's MAC, which every ipvlan child shares. */
  masterMac: string;
  ifname: string;
  netns: string;
  ipam: Pick<Result, "ips" | "routes">;
}

/**
 * An ipvlan child of the master, made straight into the pod under its final name. In l2 it is
 * configured like any interface; in l3 and l3s there is no ARP on it, so the pod's routes point at
 * the device (`ip route add default dev eth0`), the default route included.
 */
export function planAdd(input: AddInput): { plan: Plan; result: Omit<Result, "cniVersion"> } {
  const { cfg, netns, ifname } = input;
  const argv = ["link", "add", "link", checkIfname(input.master, "master"), "name", checkIfname(ifname)];
  if (cfg.mtu) argv.push("mtu", checkMtu(cfg.mtu));
  if (!cfg.linkInContainer) argv.push("netns", netns);
  argv.push("type", "ipvlan", "mode", cfg.mode, cfg.flag);
  const plan: Plan = [{ tool: "ip", netns: cfg.linkInContainer ? netns : undefined, argv }];
  const ips: IPConfig[] = (input.ipam.ips ?? []).map((i) => ({ ...i, interface: 0 }));
  let routes: Route[] = input.ipam.routes ?? [];
  if (!ips.length) plan.push(setLink({ netns, name: ifname, up: true }));
  else if (cfg.mode === "l2") plan.push(...configureInterfaceOps(netns, ifname, ips, routes));
  else {
    const families = [...new Set(ips.map((i) => parsePrefix(i.address)!.ip.family))];
    for (const f of families) {
      const dst = f === 4 ? "0.0.0.0/0" : "::/0";
      if (!routes.some((r) => r.dst === dst)) routes = [...routes, { dst }];
    }
    const ops: Op[] = configureInterfaceOps(netns, ifname, ips, []);
    for (const r of routes) ops.push(addRoute({ netns, dst: r.dst, dev: ifname, metric: r.priority }));
    plan.push(...ops);
    routes = routes.map(({ gw: _gw, ...r }) => r);
  }
  return {
    plan,
    result: {
      interfaces: [{ name: ifname, mac: input.masterMac, sandbox: netns }],
      ips: ips.length ? ips : undefined,
      routes: routes.length ? routes : undefined,
      dns: cfg.dns,
    },
  };
}
