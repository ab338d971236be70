import { encode, EncodeContext, ipBytes, macBytes } from "./encode";
import { addressesOf, linkFromMessage } from "./link-info";
import { translate } from "./translate";
import { attrString, attrU16, attrU32, attrU8, ifaddrmsg, ifinfomsg, MessageWriter, NLM_F, parseAttrs, parseError, parseMessages, RTM } from "./wire";
import { parseIP } from "../../net/ip";

const ctx: EncodeContext = {
  index: (name) => ({ eth0: 7, cni0: 3, eth1: 2, veth1: 9 })[name] ?? (() => { throw new Error(`no ${name}`); })(),
  netnsFd: (path) => (path === "/run/netns/p1" ? 42 : -1),
};
const one = (line: string) => {
  const op = translate(line.split(" "));
  if (!op) throw new Error(`untranslatable: ${line}`);
  const [m] = parseMessages(encode(op, 77, ctx));
  return m;
};
const bytes = (v: DataView | undefined) => (v ? Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) : undefined);

test("the netlink header: length, type, flags and sequence, little-endian and 4-byte aligned", () => {
  const raw = encode(translate("link del dev eth0".split(" "))!, 5, ctx);
  expect(raw.length).toBe(32);
  const v = new DataView(raw.buffer);
  expect([v.getUint32(0, true), v.getUint16(4, true), v.getUint16(6, true), v.getUint32(8, true)]).toEqual([32, RTM.DELLINK, NLM_F.REQUEST | NLM_F.ACK, 5]);
  expect(v.getInt32(16 + 4, true)).toBe(7); // ifinfomsg.ifi_index
});

test("a default route as `ip route add` fills struct rtmsg: main table, boot protocol, universe scope, unicast", () => {
  const m = one("route add default via 10.1.0.1 dev eth0 metric 100");
  expect(m.type).toBe(RTM.NEWROUTE);
  expect(m.flags).toBe(NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL);
  expect(Array.from(new Uint8Array(m.body.buffer, m.body.byteOffset, 8))).toEqual([2, 0, 0, 0, 254, 3, 0, 1]);
  const a = parseAttrs(m.body, 12);
  expect(bytes(a.get(5))).toEqual([10, 1, 0, 1]);
  expect(attrU32(a.get(4))).toBe(7);
  expect(attrU32(a.get(6))).toBe(100);
  expect(a.has(1)).toBe(false); // no RTA_DST for default
});

test("a route without gateway gets link scope (IPv4), a big table goes into RTA_TABLE, deletion scope nowhere", () => {
  const direct = one("route add 10.1.0.5/32 dev eth0");
  expect([direct.body.getUint8(1), direct.body.getUint8(6)]).toEqual([32, 253]);
  expect(bytes(parseAttrs(direct.body, 12).get(1))).toEqual([10, 1, 0, 5]);
  const v6 = one("route add fd00::/64 dev eth0");
  expect([v6.body.getUint8(0), v6.body.getUint8(6)]).toEqual([10, 0]);
  const big = one("route add 10.9.0.0/16 via 10.1.0.1 table 1000");
  expect(big.body.getUint8(4)).toBe(0);
  expect(attrU32(parseAttrs(big.body, 12).get(15))).toBe(1000);
  const del = one("route del 10.1.0.5/32 dev eth0");
  expect([del.type, del.body.getUint8(5), del.body.getUint8(6), del.body.getUint8(7)]).toEqual([RTM.DELROUTE, 0, 255, 0]);
});

test("addresses: IFA_LOCAL and IFA_ADDRESS, replace flags, nodad", () => {
  const m = one("addr replace fd00::1/64 dev veth1 nodad");
  expect(m.type).toBe(RTM.NEWADDR);
  expect(m.flags).toBe(NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.REPLACE);
  expect([m.body.getUint8(0), m.body.getUint8(1), m.body.getUint8(2), m.body.getUint32(4, true)]).toEqual([10, 64, 0x02, 9]);
  const a = parseAttrs(m.body, 8);
  expect(bytes(a.get(2))).toEqual(Array.from(ipBytes(parseIP("fd00::1")!)));
  expect(bytes(a.get(1))).toEqual(bytes(a.get(2)));
  expect(attrU32(a.get(8))).toBe(0x02);
  expect(one("addr del 10.1.0.5/24 dev eth0").type).toBe(RTM.DELADDR);
});

test("a veth pair: kind, and the peer's ifinfomsg with name and namespace nested in the link info", () => {
  const m = one("link add veth1 mtu 1400 address 02:00:00:00:00:02 master cni0 type veth peer name eth0 mtu 1400 address 02:00:00:00:00:03 netns /run/netns/p1");
  expect(m.flags).toBe(NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL);
  const a = parseAttrs(m.body, 16);
  expect(attrString(a.get(3))).toBe("veth1");
  expect(attrU32(a.get(4))).toBe(1400);
  expect(bytes(a.get(1))).toEqual(Array.from(macBytes("02:00:00:00:00:02")));
  expect(attrU32(a.get(10))).toBe(3);
  const info = parseAttrs(a.get(18)!, 0);
  expect(attrString(info.get(1))).toBe("veth");
  const peerAttr = parseAttrs(info.get(2)!, 0).get(1)!;
  const peer = parseAttrs(peerAttr, 16);
  expect(attrString(peer.get(3))).toBe("eth0");
  expect(attrU32(peer.get(28))).toBe(42);
  expect(bytes(peer.get(1))).toEqual([2, 0, 0, 0, 0, 3]);
});

test("macvlan and ipvlan modes, bridge port flags, up and promisc", () => {
  const mv = parseAttrs(one("link add link eth1 name eth0 netns /run/netns/p1 type macvlan mode private").body, 16);
  expect(attrU32(mv.get(5))).toBe(2);
  expect(attrU32(parseAttrs(parseAttrs(mv.get(18)!, 0).get(2)!, 0).get(1))).toBe(1);
  const iv = parseAttrs(parseAttrs(parseAttrs(one("link add link eth1 name eth0 type ipvlan mode l3 vepa").body, 16).get(18)!, 0).get(2)!, 0);
  expect([attrU16(iv.get(1)), attrU16(iv.get(2))]).toEqual([1, 2]);
  const port = one("link set dev veth1 type bridge_slave hairpin on isolated on");
  const slave = parseAttrs(parseAttrs(port.body, 16).get(18)!, 0);
  expect(attrString(slave.get(4))).toBe("bridge");
  const data = parseAttrs(slave.get(5)!, 0);
  expect([attrU8(data.get(4)), attrU8(data.get(33))]).toEqual([1, 1]);
  const up = one("link set dev eth0 promisc on up");
  expect([up.body.getInt32(4, true), up.body.getUint32(8, true), up.body.getUint32(12, true)]).toEqual([7, 0x101, 0x101]);
  const down = one("link set dev eth0 down nomaster");
  expect([down.body.getUint32(8, true), down.body.getUint32(12, true)]).toEqual([0, 1]);
  expect(attrU32(parseAttrs(down.body, 16).get(10))).toBe(0);
});

test("an unknown device name fails while encoding, before anything is sent", () => {
  expect(() => encode(translate("addr add 10.0.0.1/24 dev nosuch".split(" "))!, 1, ctx)).toThrow(/no nosuch/);
});

test("error replies: errno and the kernel's extended-ack text", () => {
  const reply = new MessageWriter(2, NLM_F.ACK_TLVS, 9)
    .bytes(new Uint8Array(new Int32Array([-17]).buffer))
    .bytes(new Uint8Array(16))
    .attrString(1, "Nexthop has invalid gateway")
    .finish();
  const [m] = parseMessages(reply);
  expect(parseError(m)).toEqual({ errno: 17, text: "Nexthop has invalid gateway" });
  const ack = parseMessages(new MessageWriter(2, 0, 9).bytes(new Uint8Array(20)).finish())[0];
  expect(parseError(ack)).toEqual({ errno: 0 });
});

test("parseMessages() splits a multi-message datagram and stops at a truncated one", () => {
  const a = new MessageWriter(RTM.NEWADDR, NLM_F.MULTI, 1).bytes(ifaddrmsg({ family: 2, prefixlen: 24, index: 7 })).finish();
  const b = new MessageWriter(3, NLM_F.MULTI, 1).bytes(new Uint8Array(4)).finish();
  const joined = new Uint8Array([...a, ...b, 1, 2, 3]);
  expect(parseMessages(joined).map((m) => m.type)).toEqual([RTM.NEWADDR, 3]);
});

test("link and address replies read into the shape `ip -j -d addr show` prints", () => {
  const link = new MessageWriter(RTM.NEWLINK, 0, 1)
    .bytes(ifinfomsg({ index: 7, flags: 0x1 | 0x2 | 0x1000 | 0x10000 }))
    .attrString(3, "eth0")
    .attrU32(4, 1400)
    .attrBytes(1, macBytes("02:aa:bb:cc:dd:ee"))
    .attrU32(5, 9)
    .attrU32(10, 3)
    .attrU8(16, 6)
    .attrU32(30, 0)
    .begin(18)
    .attrString(1, "macvlan")
    .begin(2)
    .attrU32(1, 4)
    .end()
    .attrString(4, "bridge")
    .end()
    .finish();
  const [m] = parseMessages(link);
  expect(linkFromMessage(m, (i) => (i === 3 ? "cni0" : undefined))).toEqual({
    ifindex: 7,
    ifname: "eth0",
    flags: ["UP", "BROADCAST", "MULTICAST", "LOWER_UP"],
    mtu: 1400,
    operstate: "UP",
    promiscuity: 0,
    address: "02:aa:bb:cc:dd:ee",
    link_index: 9,
    master: "cni0",
    linkinfo: { info_kind: "macvlan", info_data: { mode: "bridge" }, info_slave_kind: "bridge" },
  });
  const addr = (family: number, prefixlen: number, scope: number, index: number, ip: string, flags = 0) =>
    parseMessages(
      new MessageWriter(RTM.NEWADDR, NLM_F.MULTI, 1)
        .bytes(ifaddrmsg({ family, prefixlen, scope, index }))
        .attrBytes(family === 2 ? 2 : 1, ipBytes(parseIP(ip)!))
        .attrU32(8, flags)
        .finish(),
    )[0];
  const messages = [addr(2, 24, 0, 7, "10.1.0.5"), addr(2, 24, 0, 8, "10.2.0.5"), addr(10, 64, 0, 7, "fd00::5", 0x40), addr(10, 64, 253, 7, "fe80::1", 0x08)];
  expect(addressesOf(messages, 7)).toEqual([
    { family: "inet", local: "10.1.0.5", prefixlen: 24, scope: "global" },
    { family: "inet6", local: "fd00::5", prefixlen: 64, scope: "global", tentative: true },
    { family: "inet6", local: "fe80::1", prefixlen: 64, scope: "link", dadfailed: true },
  ]);
});
