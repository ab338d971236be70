import { familyBits, IP } from "../../net/ip";
import type { NlOp } from "./translate";
import { AF, ifaddrmsg, ifinfomsg, MessageWriter, NLM_F, RTM, rtmsg } from "./wire";
import { IFA, IFA_F, IFF, IFLA, IFLA_BR_VLAN_FILTERING, IFLA_BRPORT, IFLA_INFO as INFO, IFLA_IPVLAN, IFLA_MACVLAN_MODE, RT_SCOPE, RT_TABLE_MAIN, RTA, RTN_UNICAST, RTPROT_BOOT, VETH_INFO_PEER } from "./numbers";

/** What encoding needs from the namespace it runs in. */
export interface EncodeContext {
  /** Interface index of `name` here; throws when there is none. */
  index(name: string): number;
  /** An open file descriptor of the network namespace at `path`. */
  netnsFd(path: string): number;
}

export function macBytes(mac: string): Uint8Array {
  // A loop, not Uint8Array.from: the builtin's first call costs a compiled binary (JIT off) ~0.3 ms.
  const parts = mac.split(":");
  const out = new Uint8Array(parts.length);
  for (let i = 0; i < parts.length; i++) out[i] = parseInt(parts[i], 16);
  return out;
}

export function ipBytes(ip: IP): Uint8Array {
  const n = familyBits(ip.family) / 8;
  const out = new Uint8Array(n);
  let v = ip.value;
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

const afOf = (family: 4 | 6): number => (family === 4 ? AF.INET : AF.INET6);

function newlink(o: Extract<NlOp, { op: "newlink" }>, seq: number, ctx: EncodeContext): Uint8Array {
  const m = new MessageWriter(RTM.NEWLINK, NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL, seq).bytes(ifinfomsg());
  m.attrString(IFLA.IFNAME, o.name);
  if (o.mtu !== undefined) m.attrU32(IFLA.MTU, o.mtu);
  if (o.mac !== undefined) m.attrBytes(IFLA.ADDRESS, macBytes(o.mac));
  if (o.link !== undefined) m.attrU32(IFLA.LINK, ctx.index(o.link));
  if (o.master !== undefined) m.attrU32(IFLA.MASTER, ctx.index(o.master));
  if (o.netns !== undefined) m.attrU32(IFLA.NET_NS_FD, ctx.netnsFd(o.netns));
  m.begin(IFLA.LINKINFO).attrString(INFO.KIND, o.kind);
  if (o.kind === "veth" && o.peer) {
    m.begin(INFO.DATA).begin(VETH_INFO_PEER).bytes(ifinfomsg());
    m.attrString(IFLA.IFNAME, o.peer.name);
    if (o.peer.mtu !== undefined) m.attrU32(IFLA.MTU, o.peer.mtu);
    if (o.peer.mac !== undefined) m.attrBytes(IFLA.ADDRESS, macBytes(o.peer.mac));
    if (o.peer.netns !== undefined) m.attrU32(IFLA.NET_NS_FD, ctx.netnsFd(o.peer.netns));
    m.end().end();
  } else if (o.kind === "bridge" && o.vlanFiltering !== undefined) {
    m.begin(INFO.DATA).attrU8(IFLA_BR_VLAN_FILTERING, o.vlanFiltering ? 1 : 0).end();
  } else if (o.kind === "macvlan") {
    m.begin(INFO.DATA).attrU32(IFLA_MACVLAN_MODE, o.mode ?? 4).end();
  } else if (o.kind === "ipvlan") {
    m.begin(INFO.DATA).attrU16(IFLA_IPVLAN.MODE, o.mode ?? 0).attrU16(IFLA_IPVLAN.FLAGS, o.flag ?? 0).end();
  }
  return m.end().finish();
}

function setlink(o: Extract<NlOp, { op: "setlink" }>, seq: number, ctx: EncodeContext): Uint8Array {
  let flags = 0;
  let change = 0;
  if (o.up !== undefined) {
    change |= IFF.UP;
    if (o.up) flags |= IFF.UP;
  }
  if (o.promisc !== undefined) {
    change |= IFF.PROMISC;
    if (o.promisc) flags |= IFF.PROMISC;
  }
  const m = new MessageWriter(RTM.NEWLINK, NLM_F.REQUEST | NLM_F.ACK, seq).bytes(ifinfomsg({ index: ctx.index(o.name), flags, change }));
  if (o.mtu !== undefined) m.attrU32(IFLA.MTU, o.mtu);
  if (o.mac !== undefined) m.attrBytes(IFLA.ADDRESS, macBytes(o.mac));
  if (o.master === null) m.attrU32(IFLA.MASTER, 0);
  else if (o.master !== undefined) m.attrU32(IFLA.MASTER, ctx.index(o.master));
  if (o.hairpin !== undefined || o.isolated !== undefined) {
    m.begin(IFLA.LINKINFO).attrString(INFO.SLAVE_KIND, "bridge").begin(INFO.SLAVE_DATA);
    if (o.hairpin !== undefined) m.attrU8(IFLA_BRPORT.MODE, o.hairpin ? 1 : 0);
    if (o.isolated !== undefined) m.attrU8(IFLA_BRPORT.ISOLATED, o.isolated ? 1 : 0);
    m.end().end();
  }
  return m.finish();
}

function addr(o: Extract<NlOp, { op: "addr" }>, seq: number, ctx: EncodeContext): Uint8Array {
  const flags = NLM_F.REQUEST | NLM_F.ACK | (o.action === "add" ? NLM_F.CREATE | NLM_F.EXCL : o.action === "replace" ? NLM_F.CREATE | NLM_F.REPLACE : 0);
  const ifaFlags = o.nodad ? IFA_F.NODAD : 0;
  const m = new MessageWriter(o.action === "del" ? RTM.DELADDR : RTM.NEWADDR, flags, seq).bytes(
    ifaddrmsg({ family: afOf(o.prefix.ip.family), prefixlen: o.prefix.bits, flags: ifaFlags, index: ctx.index(o.dev) }),
  );
  const bytes = ipBytes(o.prefix.ip);
  m.attrBytes(IFA.LOCAL, bytes).attrBytes(IFA.ADDRESS, bytes);
  if (ifaFlags) m.attrU32(IFA.FLAGS, ifaFlags);
  return m.finish();
}

/** As `ip route` fills struct rtmsg: main table, boot protocol, link scope for a route without gateway. */
function route(o: Extract<NlOp, { op: "route" }>, seq: number, ctx: EncodeContext): Uint8Array {
  const del = o.action === "del";
  let scope: number = del ? RT_SCOPE.NOWHERE : o.gw || o.family === 6 ? RT_SCOPE.UNIVERSE : RT_SCOPE.LINK;
  if (o.scope !== undefined) scope = o.scope;
  const table = o.table ?? RT_TABLE_MAIN;
  const m = new MessageWriter(del ? RTM.DELROUTE : RTM.NEWROUTE, NLM_F.REQUEST | NLM_F.ACK | (del ? 0 : NLM_F.CREATE | NLM_F.EXCL), seq).bytes(
    rtmsg({ family: afOf(o.family), dstLen: o.dst?.bits ?? 0, table: table < 256 ? table : 0, protocol: del ? 0 : RTPROT_BOOT, scope, type: del ? 0 : RTN_UNICAST }),
  );
  if (table >= 256) m.attrU32(RTA.TABLE, table);
  if (o.dst) m.attrBytes(RTA.DST, ipBytes(o.dst.ip));
  if (o.gw) m.attrBytes(RTA.GATEWAY, ipBytes(o.gw));
  if (o.dev !== undefined) m.attrU32(RTA.OIF, ctx.index(o.dev));
  if (o.src) m.attrBytes(RTA.PREFSRC, ipBytes(o.src));
  if (o.metric !== undefined) m.attrU32(RTA.PRIORITY, o.metric);
  return m.finish();
}

/** The rtnetlink request for one operation; names are resolved through `ctx` at this moment. */
export function encode(o: NlOp, seq: number, ctx: EncodeContext): Uint8Array {
  switch (o.op) {
    case "newlink":
      return newlink(o, seq, ctx);
    case "setlink":
      return setlink(o, seq, ctx);
    case "dellink":
      return new MessageWriter(RTM.DELLINK, NLM_F.REQUEST | NLM_F.ACK, seq).bytes(ifinfomsg({ index: ctx.index(o.name) })).finish();
    case "addr":
      return addr(o, seq, ctx);
    case "route":
      return route(o, seq, ctx);
  }
}

/** RTM_GETLINK for one name (the reply is one RTM_NEWLINK, or ENODEV). */
export const getLinkRequest = (seq: number, name: string): Uint8Array =>
  new MessageWriter(RTM.GETLINK, NLM_F.REQUEST, seq).bytes(ifinfomsg()).attrString(IFLA.IFNAME, name).finish();

export const getLinkByIndexRequest = (seq: number, index: number): Uint8Array => new MessageWriter(RTM.GETLINK, NLM_F.REQUEST, seq).bytes(ifinfomsg({ index })).finish();

/** RTM_GETLINK dump: every link of the namespace. */
export const dumpLinkRequest = (seq: number): Uint8Array => new MessageWriter(RTM.GETLINK, NLM_F.REQUEST | NLM_F.DUMP, seq).bytes(ifinfomsg()).finish();

/** Puts link `index` into interface group `group` (`ip link set dev X group N`). */
export const setGroupRequest = (seq: number, index: number, group: number): Uint8Array =>
  new MessageWriter(RTM.NEWLINK, NLM_F.REQUEST | NLM_F.ACK, seq).bytes(ifinfomsg({ index })).attrU32(IFLA.GROUP, group).finish();

/** Deletes every link of interface group `group` in one operation (`ip link del group N`). */
export const deleteGroupRequest = (seq: number, group: number): Uint8Array =>
  new MessageWriter(RTM.DELLINK, NLM_F.REQUEST | NLM_F.ACK, seq).bytes(ifinfomsg()).attrU32(IFLA.GROUP, group).finish();

/** RTM_GETADDR dump of both families. */
export const dumpAddrRequest = (seq: number): Uint8Array =>
  new MessageWriter(RTM.GETADDR, NLM_F.REQUEST | NLM_F.DUMP, seq).bytes(ifaddrmsg({ family: AF.UNSPEC, prefixlen: 0, index: 0 })).finish();

/** RTM_GETROUTE dump of both families (every table; the caller keeps main). */
export const dumpRouteRequest = (seq: number): Uint8Array =>
  new MessageWriter(RTM.GETROUTE, NLM_F.REQUEST | NLM_F.DUMP, seq).bytes(rtmsg({ family: AF.UNSPEC, dstLen: 0, table: 0, protocol: 0, scope: 0, type: 0 })).finish();
