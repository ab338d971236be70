import { NetLab } from "./netlab";

// The kernel state of a pod or node as the tests compare it: what must be the same however it was
// made (no MACs, indexes, link-local addresses or timers).

/** Runs ip -j in `ns` and parses it. */
async function ipJson<T>(ns: string, ...args: string[]): Promise<T[]> {
  const r = await NetLab.sh("ip", "-n", ns, "-j", ...args);
  return JSON.parse(r.stdout || "[]") as T[];
}

interface Addr {
  family: string;
  local: string;
  prefixlen: number;
  scope: string;
}
interface Link {
  ifname: string;
  mtu: number;
  flags: string[];
  master?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown>; info_slave_data?: Record<string, unknown> };
  addr_info?: Addr[];
}

/** What must be the same whichever backend made it: no MACs, indexes, link-local addresses, timers. */
export async function linkState(ns: string, name: string) {
  const [l] = await ipJson<Link>(ns, "-d", "addr", "show", "dev", name);
  if (!l) return undefined;
  const slave = l.linkinfo?.info_slave_data;
  return {
    ifname: l.ifname,
    mtu: l.mtu,
    up: l.flags.includes("UP"),
    promisc: l.flags.includes("PROMISC"),
    master: l.master,
    kind: l.linkinfo?.info_kind,
    mode: l.linkinfo?.info_data?.mode,
    port: slave ? { hairpin: slave.hairpin, isolated: slave.isolated } : undefined,
    addresses: (l.addr_info ?? []).filter((a) => a.scope !== "link").map((a) => `${a.local}/${a.prefixlen} ${a.scope}`),
  };
}

export async function routes(ns: string, dev?: string) {
  const sel = dev ? ["dev", dev] : [];
  const all = [...(await ipJson<Record<string, unknown>>(ns, "-4", "route", "show", ...sel)), ...(await ipJson<Record<string, unknown>>(ns, "-6", "route", "show", ...sel))];
  return all
    .filter((r) => !String(r.dst).startsWith("fe80") && !String(r.dst).startsWith("ff00"))
    .map((r) => [r.dst, r.gateway, r.dev, r.scope, r.protocol, r.metric, r.flags].join(" "))
    .sort();
}

export const sysctl = async (ns: string, key: string) => (await NetLab.sh("ip", "netns", "exec", ns, "cat", `/proc/sys/${key}`)).stdout.trim();

