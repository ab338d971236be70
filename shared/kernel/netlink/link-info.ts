import { formatIP } from "../../net/ip";
import type { LinkInfo } from "../query";
import { IPVLAN_FLAGS, IPVLAN_MODES, MACVLAN_MODES } from "./translate";
import { AF, attrString, attrU16, attrU32, attrU8, Message, parseAttrs } from "./wire";

/**
 * RTM_NEWLINK and RTM_NEWADDR messages read into the same shape as `ip -j -d addr show` prints,
 * so the plugins' checks read either source alike.
 */

const IFLA = { ADDRESS: 1, IFNAME: 3, MTU: 4, LINK: 5, MASTER: 10, OPERSTATE: 16, LINKINFO: 18, PROMISCUITY: 30 } as const;
const INFO = { KIND: 1, DATA: 2, SLAVE_KIND: 4 } as const;
const IFA = { ADDRESS: 1, LOCAL: 2, FLAGS: 8 } as const;
const IFA_F = { DADFAILED: 0x08, TENTATIVE: 0x40 } as const;
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

const hex = (v: DataView): string =>
  Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), (b) => b.toString(16).padStart(2, "0")).join(":");

function kindData(kind: string | undefined, data: DataView | undefined): Record<string, unknown> | undefined {
  if (!data) return undefined;
  const a = parseAttrs(data, 0);
  if (kind === "bridge") return { vlan_filtering: attrU8(a.get(7)) ?? 0 };
  if (kind === "macvlan") return { mode: nameOf(MACVLAN_MODES, attrU32(a.get(1))) };
  if (kind === "ipvlan") return { mode: nameOf(IPVLAN_MODES, attrU16(a.get(1))), flags: nameOf(IPVLAN_FLAGS, attrU16(a.get(2))) };
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
