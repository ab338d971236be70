import { hexBytes } from "../../hash";
import { formatIP } from "../../net/ip";
import type { LinkInfo, RouteInfo } from "../query";
import { IPVLAN_FLAGS, IPVLAN_MODES, MACVLAN_MODES } from "./translate";
import { AF, attrString, attrU16, attrU32, attrU8, Message, parseAttrs } from "./wire";
import { IFA, IFA_F, IFLA, IFLA_BR_VLAN_FILTERING, IFLA_INFO as INFO, IFLA_IPVLAN, IFLA_MACVLAN_MODE, RT_TABLE_MAIN, RTA, RTM_F_CLONED, RTNH_F } from "./numbers";

/**
 * RTM_NEWLINK and RTM_NEWADDR messages read into the same shape as `ip -j -d addr show` prints,
 * so the plugins' checks read either source alike.
 */

const OPERSTATES = ["UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP"];
const FLAG_NAMES: [number, string][] = [
  [0x1, "UP"],
  [0x2, "BROADCAST"],
  [0x8, "LOOPBACK"],
  [0x10, "POINTOPOINT"],
  [0x80, "NOARP"],
  [0x100, "PROMISC"],
  [0x1000, "MULTICAST"],
  [0x10000, "LOWER_UP"],
];
const SCOPE_NAMES: Record<number, string> = { 0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere" };

const nameOf = (table: Record<string, number>, value: number | undefined): string | undefined => Object.keys(table).find((k) => table[k] === value);

// A loop, not Array.from: the first call of a builtin costs a compiled binary (JIT off) ~0.5 ms.
const hex = (v: DataView): string => hexBytes(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), ":");

function kindData(kind: string | undefined, data: DataView | undefined): Record<string, unknown> | undefined {
  if (!data) return undefined;
  const a = parseAttrs(data, 0);
  if (kind === "bridge") return { vlan_filtering: attrU8(a.get(IFLA_BR_VLAN_FILTERING)) ?? 0 };
  if (kind === "macvlan") return { mode: nameOf(MACVLAN_MODES, attrU32(a.get(IFLA_MACVLAN_MODE))) };
  if (kind === "ipvlan") return { mode: nameOf(IPVLAN_MODES, attrU16(a.get(IFLA_IPVLAN.MODE))), flags: nameOf(IPVLAN_FLAGS, attrU16(a.get(IFLA_IPVLAN.FLAGS))) };
  return {};
}

/** The link part; `masterName` turns IFLA_MASTER's index into a name. */
export function linkFromMessage(m: Message, masterName: (index: number) => string | undefined): LinkInfo {
  const flags = m.body.getUint32(8, true);
  const a = parseAttrs(m.body, 16);
  const info = a.get(IFLA.LINKINFO) ? parseAttrs(a.get(IFLA.LINKINFO)!, 0) : undefined;
  const kind = attrString(info?.get(INFO.KIND));
  const master = attrU32(a.get(IFLA.MASTER));
  const link: LinkInfo = {
    ifindex: m.body.getInt32(4, true),
    ifname: attrString(a.get(IFLA.IFNAME)) ?? "",
    flags: FLAG_NAMES.filter(([bit]) => flags & bit).map(([, name]) => name),
    mtu: attrU32(a.get(IFLA.MTU)) ?? 0,
    operstate: OPERSTATES[attrU8(a.get(IFLA.OPERSTATE)) ?? 0] ?? "UNKNOWN",
    promiscuity: attrU32(a.get(IFLA.PROMISCUITY)) ?? 0,
  };
  const address = a.get(IFLA.ADDRESS);
  if (address) link.address = hex(address);
  const lower = attrU32(a.get(IFLA.LINK));
  if (lower !== undefined) link.link_index = lower;
  if (master) link.master = masterName(master);
  if (info) {
    link.linkinfo = {};
    if (kind) link.linkinfo.info_kind = kind;
    const data = kindData(kind, info.get(INFO.DATA));
    if (data) link.linkinfo.info_data = data;
    const slave = attrString(info.get(INFO.SLAVE_KIND));
    if (slave) link.linkinfo.info_slave_kind = slave;
  }
  return link;
}

function ipFrom(v: DataView | undefined, family: 4 | 6): string | undefined {
  if (!v) return undefined;
  let value = 0n;
  for (let i = 0; i < v.byteLength; i++) value = (value << 8n) | BigInt(v.getUint8(i));
  return formatIP({ family, value });
}

/** The addresses of interface `index`, in the kernel's order. */
export function addressesOf(messages: Message[], index: number): NonNullable<LinkInfo["addr_info"]> {
  const out: NonNullable<LinkInfo["addr_info"]> = [];
  for (const m of messages) {
    if (m.body.getUint32(4, true) !== index) continue;
    const familyCode = m.body.getUint8(0);
    if (familyCode !== AF.INET && familyCode !== AF.INET6) continue;
    const family = familyCode === AF.INET ? 4 : 6;
    const a = parseAttrs(m.body, 8);
    const local = ipFrom(a.get(IFA.LOCAL) ?? a.get(IFA.ADDRESS), family);
    if (!local) continue;
    const flags = attrU32(a.get(IFA.FLAGS)) ?? m.body.getUint8(2);
    out.push({
      family: family === 4 ? "inet" : "inet6",
      local,
      prefixlen: m.body.getUint8(1),
      scope: SCOPE_NAMES[m.body.getUint8(3)] ?? String(m.body.getUint8(3)),
      ...(flags & IFA_F.TENTATIVE ? { tentative: true } : {}),
      ...(flags & IFA_F.DADFAILED ? { dadfailed: true } : {}),
    });
  }
  return out;
}

/** The main table's routes as `ip -j route show` gives them (the fields we use); `devName` names OIFs. */
export function mainRoutes(messages: Message[], devName: (index: number) => string | undefined): RouteInfo[] {
  const out: RouteInfo[] = [];
  for (const m of messages) {
    const b = m.body;
    const familyCode = b.getUint8(0);
    if (familyCode !== AF.INET && familyCode !== AF.INET6) continue;
    const family = familyCode === AF.INET ? 4 : 6;
    const flags = b.getUint32(8, true);
    const a = parseAttrs(b, 12);
    const table = attrU32(a.get(RTA.TABLE)) ?? b.getUint8(4);
    if (table !== RT_TABLE_MAIN || flags & RTM_F_CLONED) continue;
    const bits = b.getUint8(1);
    const route: RouteInfo = { dst: bits === 0 ? "default" : `${ipFrom(a.get(RTA.DST), family)}/${bits}` };
    const gateway = ipFrom(a.get(RTA.GATEWAY), family);
    if (gateway) route.gateway = gateway;
    const oif = attrU32(a.get(RTA.OIF));
    if (oif !== undefined) route.dev = devName(oif);
    const scope = SCOPE_NAMES[b.getUint8(6)];
    if (scope && scope !== "global") route.scope = scope;
    const prefsrc = ipFrom(a.get(RTA.PREFSRC), family);
    if (prefsrc) route.prefsrc = prefsrc;
    const metric = attrU32(a.get(RTA.PRIORITY));
    if (metric !== undefined) route.metric = metric;
    route.flags = [...(flags & RTNH_F.ONLINK ? ["onlink"] : []), ...(flags & RTNH_F.LINKDOWN ? ["linkdown"] : [])];
    out.push(route);
  }
  return out;
}
