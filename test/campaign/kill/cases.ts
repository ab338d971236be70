/**
 * The interface plugin configurations the kill campaign runs, each with what it shares between
 * pods and so keeps after the last DEL, as the reference does (the bridge and its gateway
 * address, patchcord's nft tables with their sets, chains and fixed rules, the nat table's built-in
 * chains that iptables creates on first use): the only lines a snapshot may gain.
 */
export interface KillCase {
  /** For test names and figures. */
  name: string;
  plugin: "bridge" | "veth-routed" | "macvlan" | "ipvlan";
  conf: Record<string, unknown>;
  /** The bridge the config names, deleted before every step so that its creation is a step too. */
  bridge?: string;
  /** Whether the iptables backend is used (its nat table is then snapshotted too). */
  iptables?: boolean;
  /** The address the pod pings after the repeated ADD (its gateway), if it has one on the node. */
  gateway?: string;
}

/** Shared objects, not a pod's: see above. Per-pod objects (elements, PC-MASQ chains, jumps) never match. */
export function infrastructure(c: KillCase): (line: string) => boolean {
  const bridge = c.bridge;
  return (line) =>
    (bridge !== undefined && (line.includes(` link ${bridge} `) || line.includes(` addr ${bridge} `) || line.includes(` dev=${bridge} `))) ||
    /^node nft (table|set) /.test(line) ||
    /^node nft chain .* hook=(?!-)/.test(line) ||
    /^node nft rule (inet patchcord postrouting|bridge patchcord prerouting) /.test(line) ||
    /^node ip6?tables-save :[A-Z]+ ACCEPT /.test(line);
}

export function killCases(rid: string, dataDir: string, master: string): KillCase[] {
  const ipam = (subnets: string[]) => ({ type: "host-local", dataDir, ranges: subnets.map((subnet) => [{ subnet }]) });
  const base = (name: string, type: string, extra: Record<string, unknown>) => ({ cniVersion: "1.0.0", name, type, ...extra });
  return [
    {
      name: "bridge",
      plugin: "bridge",
      bridge: `${rid}br1`,
      gateway: "198.18.201.1",
      conf: base("killbr", "bridge", { bridge: `${rid}br1`, isGateway: true, ipam: ipam(["198.18.201.0/24"]) }),
    },
    {
      // Both of the bridge's netfilter batches: masquerade (inet) and the MAC spoof check (bridge family).
      name: "bridge ipMasq macspoofchk",
      plugin: "bridge",
      bridge: `${rid}br2`,
      gateway: "198.18.202.1",
      conf: base("killbrmasq", "bridge", { bridge: `${rid}br2`, isGateway: true, ipMasq: true, macspoofchk: true, ipam: ipam(["198.18.202.0/24"]) }),
    },
    {
      name: "veth-routed",
      plugin: "veth-routed",
      gateway: "198.18.203.1",
      conf: base("killvr", "veth-routed", { ipam: ipam(["198.18.203.0/24"]) }),
    },
    {
      // Dual-stack with the iptables backend: one iptables-restore batch per family.
      name: "veth-routed ipMasq (iptables, dual-stack)",
      plugin: "veth-routed",
      iptables: true,
      gateway: "198.18.204.1",
      conf: base("killvrmasq", "veth-routed", { ipMasq: true, ipMasqBackend: "iptables", ipam: ipam(["198.18.204.0/24", "fd00:18:204::/64"]) }),
    },
    {
      name: "macvlan",
      plugin: "macvlan",
      conf: base("killmv", "macvlan", { master, mode: "bridge", ipam: ipam(["198.18.205.0/24"]) }),
    },
  ];
}

/**
 * ipvlan l2 on `master` (a dummy link: only a guest kernel has ipvlan); l3 has the same plan but
 * for its mode, so the short guest-kernel campaign runs l2 alone.
 */
export function ipvlanKillCase(dataDir: string, master: string): KillCase {
  return {
    name: "ipvlan l2",
    plugin: "ipvlan",
    conf: { cniVersion: "1.0.0", name: "killipv", type: "ipvlan", master, mode: "l2", ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "198.18.210.0/24" }]] } },
  };
}
