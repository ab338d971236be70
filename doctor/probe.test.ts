import type { LinkInfo } from "../shared/kernel/query";
import { hopTable, parsePing, parseSnmp6, parseTables, targetAddress } from "./probe";

test("the tables of /proc/net/snmp and netstat, and /proc/net/snmp6", () => {
  const snmp = ["Ip: Forwarding ForwDatagrams OutNoRoutes", "Ip: 1 7 2", "Icmp: InEchos OutEchoReps", "Icmp: 3 3", "IpExt: InNoRoutes", "IpExt: 4", ""].join("\n");
  expect(Object.fromEntries(parseTables(snmp))).toEqual({ "Ip Forwarding": 1, "Ip ForwDatagrams": 7, "Ip OutNoRoutes": 2, "Icmp InEchos": 3, "Icmp OutEchoReps": 3, "IpExt InNoRoutes": 4 });
  expect(Object.fromEntries(parseSnmp6("Ip6InNoRoutes                   \t5\nIcmp6InEchos  2\n"))).toEqual({ Ip6InNoRoutes: 5, Icmp6InEchos: 2 });
});

test("ping's summary, and nothing sent when ping could not send", () => {
  expect(parsePing("--- 10.0.0.2 ping statistics ---\n3 packets transmitted, 2 received, 33% packet loss, time 404ms")).toEqual({ sent: 3, received: 2 });
  expect(parsePing("ping: connect: Network is unreachable")).toEqual({ sent: 0, received: 0 });
});

test("pod B's address: the first global IPv4 not on lo, else a global IPv6 (never link-local)", () => {
  const link = (ifname: string, addr: LinkInfo["addr_info"]): LinkInfo => ({ ifindex: 2, ifname, flags: ["UP"], mtu: 1500, operstate: "UP", addr_info: addr });
  const lo = link("lo", [{ family: "inet", local: "127.0.0.1", prefixlen: 8, scope: "host" }]);
  const v6 = link("eth0", [
    { family: "inet6", local: "fe80::1", prefixlen: 64, scope: "link" },
    { family: "inet6", local: "fd00::5", prefixlen: 128, scope: "global" },
  ]);
  const v4 = link("eth1", [{ family: "inet", local: "10.1.2.3", prefixlen: 32, scope: "global" }]);
  expect(targetAddress([lo, v6, v4])).toMatchObject({ address: "10.1.2.3", family: 4, link: { ifname: "eth1" } });
  expect(targetAddress([lo, v6])).toMatchObject({ address: "fd00::5", family: 6 });
  expect(targetAddress([lo])).toBeUndefined();
});

test("the hop table", () => {
  expect(hopTable([{ where: "pod A", counter: "Icmp OutEchos", delta: 3 }, { where: "node veth1", counter: "rx packets", delta: 0 }])).toBe(
    ["where       counter        change", "pod A       Icmp OutEchos  +3", "node veth1  rx packets     +0"].join("\n"),
  );
});
