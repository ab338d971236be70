import { ipEqual, parseIP } from "../shared/net/ip";
import { ipJson, ipJsonMaybe } from "./ip-cmd";

/**
 * The MTU pods should get: that of the node's uplink, the link holding one of the node's
 * InternalIPs (on kind, eth0 inherits the Docker network's MTU), else the default route's link.
 */
const FALLBACK_MTU = 1500;

interface AddrRow {
  ifname?: string;
  mtu?: number;
  addr_info?: { local?: string }[];
}

interface RouteRow {
  dev?: string;
}

export async function uplinkMtu(internalIPs: string[]): Promise<number> {
  const wanted = internalIPs.map((t) => (typeof t === "string" ? parseIP(t) : undefined)).filter((ip) => ip !== undefined);
  if (wanted.length) {
    const links = await ipJson<AddrRow>(["address", "show"]);
    for (const link of links) {
      const has = (link.addr_info ?? []).some((a) => {
        const local = a.local ? parseIP(a.local) : undefined;
        return local && wanted.some((w) => ipEqual(w, local));
      });
      if (has && typeof link.mtu === "number") return link.mtu;
    }
  }
  for (const family of ["-4", "-6"]) {
    const { rows } = await ipJsonMaybe<RouteRow>([family, "route", "show", "default"]);
    const dev = rows?.find((r) => r.dev)?.dev;
    if (!dev) continue;
    const { rows: link } = await ipJsonMaybe<AddrRow>(["link", "show", "dev", dev]);
    if (typeof link?.[0]?.mtu === "number") return link[0].mtu;
  }
  return FALLBACK_MTU;
}
