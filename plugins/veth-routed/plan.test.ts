import { renderShell } from "../../shared/kernel/ops";
import { hostVethName } from "../../shared/plugin/veth";
import type { Invocation } from "../../shared/cni/env";
import { parseVethRoutedConfig } from "./config";
import { AddInput, planAdd } from "./plan";

const inv: Invocation = { command: "ADD", containerId: "ctr1", netns: "/run/netns/p1", ifname: "eth0", args: {}, path: [] };
const cfg = (extra: Record<string, unknown> = {}) =>
  parseVethRoutedConfig({ cniVersion: "1.0.0", name: "net1", type: "veth-routed", ipam: { type: "host-local" }, ...extra }, inv);
const input = (extra: Record<string, unknown> = {}, ipam: AddInput["ipam"] = { ips: [{ address: "10.1.0.5/24", gateway: "10.1.0.1" }] }): AddInput => ({
  cfg: cfg(extra),
  network: "net1",
  containerId: "ctr1",
  ifname: "eth0",
  netns: "/run/netns/p1",
  hostMac: "02:00:00:00:00:02",
  containerMac: "02:00:00:00:00:03",
  ipam,
});
const port = hostVethName("ctr1", "eth0");

test("planAdd() is the routed pattern: address alone, on-link gateway, default route, return route", () => {
  expect(planAdd(input()).plan.map(renderShell)).toEqual([
    `ip link add ${port} address 02:00:00:00:00:02 type veth peer name eth0 address 02:00:00:00:00:03 netns /run/netns/p1`,
    `ip link set dev ${port} up`,
    `ip addr replace 10.1.0.1/32 dev ${port}`,
    `ip route add 10.1.0.5/32 dev ${port}`,
    `sysctl -w net/ipv6/conf/${port}/accept_ra=0`,
    "sysctl -w net.ipv4.ip_forward=1",
    "nsenter --net=/run/netns/p1 ip addr add 10.1.0.5/32 dev eth0",
    "nsenter --net=/run/netns/p1 ip link set dev eth0 up",
    "nsenter --net=/run/netns/p1 ip route add 10.1.0.1/32 dev eth0 scope link",
    "nsenter --net=/run/netns/p1 ip route add default via 10.1.0.1 dev eth0",
  ]);
});

test("planAdd() result: host veth and pod interface, the address alone, the default route", () => {
  const { result } = planAdd(input({ dns: { nameservers: ["10.1.0.53"] } }));
  expect(result).toEqual({
    interfaces: [
      { name: port, mac: "02:00:00:00:00:02" },
      { name: "eth0", mac: "02:00:00:00:00:03", sandbox: "/run/netns/p1" },
    ],
    ips: [{ address: "10.1.0.5/32", gateway: "10.1.0.1", interface: 1 }],
    routes: [{ dst: "0.0.0.0/0", gw: "10.1.0.1" }],
    dns: { nameservers: ["10.1.0.53"] },
  });
});

test("planAdd() handles IPv6 (/128, nodad, ::/0, forwarding) and keeps IPAM's routes", () => {
  const lines = planAdd(input({}, { ips: [{ address: "fd00::5/64", gateway: "fd00::1" }], routes: [{ dst: "fd01::/64" }] })).plan.map(renderShell);
  // No DAD on the host veth's link-local address, set before the link comes up (else it is tentative ~2 s).
  expect(lines.findIndex((l) => l.endsWith("accept_dad=0"))).toBeLessThan(lines.findIndex((l) => l === `ip link set dev ${port} up`));
  expect(lines).toEqual(
    expect.arrayContaining([
      `sysctl -w net/ipv6/conf/${port}/accept_dad=0`,
      `ip addr replace fd00::1/128 dev ${port} nodad`,
      `ip route add fd00::5/128 dev ${port}`,
      "sysctl -w net.ipv6.conf.all.forwarding=1",
      "nsenter --net=/run/netns/p1 ip addr add fd00::5/128 dev eth0 nodad",
      "nsenter --net=/run/netns/p1 ip route add fd00::1/128 dev eth0 scope link",
      "nsenter --net=/run/netns/p1 ip route add fd01::/64 via fd00::1 dev eth0",
      "nsenter --net=/run/netns/p1 ip route add ::/0 via fd00::1 dev eth0",
    ]),
  );
});

test("planAdd() masquerades with the IPAM subnet, so pod-to-pod traffic keeps its source", () => {
  const lines = planAdd({ ...input({ ipMasq: true }), masqBackend: "nftables" }).plan.map(renderShell);
  expect(lines.some((l) => l.includes('masq_local4 { 10.1.0.5 . 10.1.0.0/24 comment "net1/ctr1/eth0" }'))).toBe(true);
});

test("planAdd() needs a gateway from IPAM", () => {
  expect(() => planAdd(input({}, { ips: [{ address: "10.1.0.5/24" }] }))).toThrow(expect.objectContaining({ code: 7 }));
});

test("parseVethRoutedConfig() takes ptp's keys and refuses others", () => {
  expect(cfg({ ipMasq: true, mtu: 1400 })).toMatchObject({ ipamType: "host-local", ipMasq: true, mtu: 1400 });
  expect(() => cfg({ isGateway: true })).toThrow(expect.objectContaining({ code: 2 }));
  expect(() => parseVethRoutedConfig({ cniVersion: "1.0.0", name: "n", type: "veth-routed" }, inv)).toThrow(expect.objectContaining({ code: 7, message: "ipam: is required" }));
});
