import type { Invocation } from "../../shared/cni/env";
import { Op } from "../../shared/kernel/ops";
import { parseIP, parsePrefix } from "../../shared/net/ip";
import { parseBridgeConfig } from "../../plugins/bridge/config";
import { planAdd as bridgePlan, planVlanGateway } from "../../plugins/bridge/plan";
import { parseVethRoutedConfig } from "../../plugins/veth-routed/config";
import { planAdd as routedPlan } from "../../plugins/veth-routed/plan";
import { parseMacvlanConfig } from "../../plugins/macvlan/config";
import { planAdd as macvlanPlan } from "../../plugins/macvlan/plan";
import { parseIpvlanConfig } from "../../plugins/ipvlan/config";
import { planAdd as ipvlanPlan } from "../../plugins/ipvlan/plan";
import { undoPlan } from "../../shared/kernel/apply";
import { translate } from "../../shared/kernel/netlink/translate";

const words = (line: string) => line.split(" ");

test("translate() reads veth creation with the peer in another namespace", () => {
  expect(translate(words("link add vethab address 02:00:00:00:00:02 master cni0 type veth peer name eth0 mtu 1400 address 02:00:00:00:00:03 netns /run/netns/p1"))).toEqual({
    op: "newlink",
    name: "vethab",
    kind: "veth",
    mac: "02:00:00:00:00:02",
    master: "cni0",
    peer: { name: "eth0", mtu: 1400, mac: "02:00:00:00:00:03", netns: "/run/netns/p1" },
  });
});

test("translate() reads bridge, macvlan and ipvlan creation", () => {
  expect(translate(words("link add name br0 mtu 1450 address 02:00:00:00:00:01 type bridge vlan_filtering 1"))).toEqual({
    op: "newlink",
    name: "br0",
    kind: "bridge",
    mtu: 1450,
    mac: "02:00:00:00:00:01",
    vlanFiltering: true,
  });
  expect(translate(words("link add link eth1 name eth0 address 02:00:00:00:00:05 netns /run/netns/p1 type macvlan mode passthru"))).toMatchObject({
    kind: "macvlan",
    link: "eth1",
    name: "eth0",
    netns: "/run/netns/p1",
    mode: 8,
  });
  expect(translate(words("link add link eth1 name eth0 type ipvlan mode l3s private"))).toMatchObject({ kind: "ipvlan", mode: 2, flag: 1 });
});

test("translate() reads link settings, deletion, addresses and routes", () => {
  expect(translate(words("link set dev veth1 type bridge_slave hairpin on isolated off"))).toEqual({ op: "setlink", name: "veth1", hairpin: true, isolated: false });
  expect(translate(words("link set dev eth0 mtu 1400 address 02:00:00:00:00:09 nomaster up"))).toEqual({
    op: "setlink",
    name: "eth0",
    mtu: 1400,
    mac: "02:00:00:00:00:09",
    master: null,
    up: true,
  });
  expect(translate(words("link set dev cni0 promisc on"))).toEqual({ op: "setlink", name: "cni0", promisc: true });
  expect(translate(words("link del dev veth1"))).toEqual({ op: "dellink", name: "veth1" });
  expect(translate(words("link del veth1"))).toEqual({ op: "dellink", name: "veth1" });
  expect(translate(words("addr replace fd00::1/64 dev veth1 nodad"))).toEqual({ op: "addr", action: "replace", prefix: parsePrefix("fd00::1/64"), dev: "veth1", nodad: true });
  expect(translate(words("route add 10.1.0.1/32 dev eth0 scope link"))).toEqual({ op: "route", action: "add", family: 4, dst: parsePrefix("10.1.0.1/32"), dev: "eth0", scope: 253 });
  expect(translate(words("route add default via 10.1.0.1 dev eth0 metric 100 table 300"))).toEqual({
    op: "route",
    action: "add",
    family: 4,
    gw: parseIP("10.1.0.1"),
    dev: "eth0",
    metric: 100,
    table: 300,
  });
  // An IPv6 default route is written ::/0 (ip -batch takes no -6): it is family 6's default.
  expect(translate(words("route del ::/0 via fd00::1 dev eth0"))).toEqual({ op: "route", action: "del", family: 6, gw: parseIP("fd00::1"), dev: "eth0" });
});

test("translate() leaves anything outside its grammar to ip (undefined), never half-reads it", () => {
  for (const line of [
    "link set dev br0 type bridge vlan_filtering 1",
    "link add link eth1 name eth0 type macvlan mode bridge bcqueuelen 100",
    "link add link eth1 name eth0 type macvlan mode sideways",
    "link add veth0 type veth peer name eth0 master br0",
    "link add veth0 type vxlan id 5",
    "link set dev eth0 mtu 9999999",
    "link set dev eth0 promisc maybe",
    "addr add 10.0.0.1 dev eth0",
    "addr add 10.0.0.1/24 dev eth0 noprefixroute",
    "addr flush dev eth0",
    "route add 10.0.0.0/24 via fd00::1",
    "route add 10.0.0.0/24 via 10.0.0.1 onlink",
    "route add default via 10.0.0.1 dev",
    "vlan add dev veth0 vid 5",
    "neigh add 10.0.0.1 lladdr 02:00:00:00:00:01 dev eth0",
  ]) {
    expect([line, translate(words(line))]).toEqual([line, undefined]);
  }
});

// Every `ip` operation the planners write goes over rtnetlink in a compiled binary; a planner
// change that falls outside the grammar would silently bring back a process per batch.
const inv: Invocation = { command: "ADD", containerId: "ctr1", netns: "/run/netns/p1", ifname: "eth0", args: {}, path: [] };
const ipam = { ips: [{ address: "10.1.0.5/24", gateway: "10.1.0.1" }, { address: "fd00::5/64", gateway: "fd00::1" }], routes: [{ dst: "0.0.0.0/0" }, { dst: "192.168.0.0/16", gw: "10.1.0.9", priority: 50 }] };
const ipOps = (plan: Op[]) => [...plan, ...undoPlan(plan)].filter((op): op is Extract<Op, { tool: "ip" }> => op.tool === "ip");

test.each([
  ["bridge", () => bridgePlan({
    cfg: parseBridgeConfig({ cniVersion: "1.0.0", name: "n", type: "bridge", isGateway: true, isDefaultGateway: true, hairpinMode: true, mtu: 1400, ipMasq: true }, inv),
    network: "n", containerId: "ctr1", ifname: "eth0", netns: "/run/netns/p1",
    bridge: { mac: "02:00:00:00:00:01", addresses: [], vlanFiltering: false, promisc: false },
    hostMac: "02:00:00:00:00:02", containerMac: "02:00:00:00:00:03", ipam,
  }).plan.filter((op) => op.tool !== "nft")],
  ["bridge forceAddress, promisc", () => bridgePlan({
    cfg: parseBridgeConfig({ cniVersion: "1.0.0", name: "n", type: "bridge", isGateway: true, forceAddress: true, promiscMode: true }, inv),
    network: "n", containerId: "ctr1", ifname: "eth0", netns: "/run/netns/p1",
    bridge: { mac: "02:00:00:00:00:01", addresses: ["10.1.0.7/24"], vlanFiltering: false, promisc: false },
    hostMac: "02:00:00:00:00:02", containerMac: "02:00:00:00:00:03", ipam,
  }).plan],
  ["bridge VLAN gateway link", () => planVlanGateway(parseBridgeConfig({ cniVersion: "1.0.0", name: "n", type: "bridge", vlan: 5, isGateway: true }, inv)).filter((op) => op.tool === "ip")],
  ["veth-routed", () => routedPlan({
    cfg: parseVethRoutedConfig({ cniVersion: "1.0.0", name: "n", type: "veth-routed", mtu: 1400, ipam: { type: "host-local" } }, inv),
    network: "n", containerId: "ctr1", ifname: "eth0", netns: "/run/netns/p1", hostMac: "02:00:00:00:00:02", containerMac: "02:00:00:00:00:03", ipam,
  }).plan],
  ...["bridge", "private", "vepa", "passthru"].map((mode) => [`macvlan ${mode}`, () => macvlanPlan({
    cfg: parseMacvlanConfig({ cniVersion: "1.0.0", name: "n", type: "macvlan", master: "eth1", mode, mtu: 1400 }, inv),
    master: "eth1", ifname: "eth0", netns: "/run/netns/p1", mac: "02:00:00:00:00:05", ipam,
  }).plan] as [string, () => Op[]]),
  ...["l2", "l3", "l3s"].map((mode) => [`ipvlan ${mode}`, () => ipvlanPlan({
    cfg: parseIpvlanConfig({ cniVersion: "1.0.0", name: "n", type: "ipvlan", master: "eth1", mode, mtu: 1400 }, inv),
    master: "eth1", masterMac: "02:00:00:00:00:06", ifname: "eth0", netns: "/run/netns/p1", ipam,
  }).plan] as [string, () => Op[]]),
])("every ip operation of the %s plan (and its undo) translates", (_name, plan) => {
  const ops = ipOps(plan());
  expect(ops.length).toBeGreaterThan(2);
  for (const op of ops) expect([op.argv.join(" "), translate(op.argv) !== undefined]).toEqual([op.argv.join(" "), true]);
});
