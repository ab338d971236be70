import type { Invocation } from "../../shared/cni/env";
import { renderShell } from "../../shared/kernel/ops";
import { parseBridgeConfig } from "./config";
import { AddInput, hostVethName, planAdd, randomMac } from "./plan";

const inv = (args: Record<string, string> = {}): Invocation => ({ command: "ADD", containerId: "ctr1", netns: "/run/netns/p1", ifname: "eth0", args, path: [] });
const cfg = (extra: Record<string, unknown> = {}) => parseBridgeConfig({ cniVersion: "1.0.0", name: "net1", type: "bridge", ...extra }, inv());
const input = (extra: Record<string, unknown> = {}, over: Partial<AddInput> = {}): AddInput => ({
  cfg: cfg(extra),
  network: "net1",
  containerId: "ctr1",
  ifname: "eth0",
  netns: "/run/netns/p1",
  bridge: { mac: "02:00:00:00:00:01", addresses: [], vlanFiltering: false, promisc: false },
  hostMac: "02:00:00:00:00:02",
  containerMac: "02:00:00:00:00:03",
  ipam: { ips: [{ address: "10.1.0.5/24", gateway: "10.1.0.1" }], routes: [{ dst: "0.0.0.0/0" }] },
  ...over,
});
const script = (i: AddInput) => planAdd(i).plan.map(renderShell);
const port = hostVethName("ctr1", "eth0");

test("hostVethName() is stable, short and differs per attachment", () => {
  expect(port).toMatch(/^veth[0-9a-f]{11}$/);
  expect(hostVethName("ctr1", "eth0")).toBe(port);
  expect(hostVethName("ctr1", "net1")).not.toBe(port);
});

test("randomMac() is unicast and locally administered", () => {
  for (let i = 0; i < 20; i++) expect(parseInt(randomMac().slice(0, 2), 16) & 0x03).toBe(0x02);
});

test("planAdd() for a gateway bridge: the article's commands in order", () => {
  expect(script(input({ isGateway: true }))).toEqual([
    "ip link set dev cni0 up",
    `ip link add ${port} address 02:00:00:00:00:02 master cni0 type veth peer name eth0 address 02:00:00:00:00:03 netns /run/netns/p1`,
    `ip link set dev ${port} type bridge_slave hairpin off isolated off`,
    `ip link set dev ${port} up`,
    "ip addr replace 10.1.0.1/24 dev cni0",
    `sysctl -w net/ipv6/conf/${port}/accept_ra=0`,
    "sysctl -w net.ipv4.ip_forward=1",
    "nsenter --net=/run/netns/p1 sysctl -w net/ipv4/conf/eth0/arp_notify=1",
    "nsenter --net=/run/netns/p1 ip addr add 10.1.0.5/24 dev eth0",
    "nsenter --net=/run/netns/p1 ip link set dev eth0 up",
    "nsenter --net=/run/netns/p1 ip route add 0.0.0.0/0 via 10.1.0.1 dev eth0",
  ]);
});

test("planAdd() result lists bridge, host veth and pod interface, IPs on index 2", () => {
  const { result } = planAdd(input({ isDefaultGateway: true }, { ipam: { ips: [{ address: "10.1.0.5/24" }, { address: "fd00::5/64", gateway: "fd00::1" }] } }));
  expect(result.interfaces).toEqual([
    { name: "cni0", mac: "02:00:00:00:00:01" },
    { name: port, mac: "02:00:00:00:00:02" },
    { name: "eth0", mac: "02:00:00:00:00:03", sandbox: "/run/netns/p1" },
  ]);
  // isGateway without an IPAM gateway uses the subnet's first address.
  expect(result.ips).toEqual([
    { address: "10.1.0.5/24", gateway: "10.1.0.1", interface: 2 },
    { address: "fd00::5/64", gateway: "fd00::1", interface: 2 },
  ]);
  expect(result.routes).toEqual([
    { dst: "0.0.0.0/0", gw: "10.1.0.1" },
    { dst: "::/0", gw: "fd00::1" },
  ]);
});

test("planAdd() keeps an IPAM default route that has a gateway", () => {
  const { result } = planAdd(input({ isDefaultGateway: true }, { ipam: { ips: [{ address: "10.1.0.5/24", gateway: "10.1.0.1" }], routes: [{ dst: "0.0.0.0/0", gw: "10.1.0.254" }] } }));
  expect(result.routes).toEqual([{ dst: "0.0.0.0/0", gw: "10.1.0.254" }]);
});

test("planAdd() refuses a bridge holding another IPv4 address unless forceAddress", () => {
  const taken = { bridge: { mac: "02:00:00:00:00:01", addresses: ["10.9.0.1/24"], vlanFiltering: false, promisc: false } };
  expect(() => planAdd(input({ isGateway: true }, taken))).toThrow(expect.objectContaining({ code: 7, message: expect.stringContaining("already has an address 10.9.0.1/24") }));
  expect(script(input({ isGateway: true, forceAddress: true }, taken))).toEqual(
    expect.arrayContaining(["ip addr del 10.9.0.1/24 dev cni0", "ip addr replace 10.1.0.1/24 dev cni0"]),
  );
  const same = { bridge: { ...taken.bridge, addresses: ["10.1.0.1/24"] } };
  expect(script(input({ isGateway: true }, same)).filter((l) => l.includes("addr replace"))).toEqual([]);
});

test("planAdd() with vlan, trunk, hairpin, promisc, mtu, IPv6 DAD and masquerade", () => {
  const lines = script(
    input(
      { vlan: 100, vlanTrunk: [{ id: 200 }], hairpinMode: true, portIsolation: true, mtu: 1400, enabledad: true, ipMasq: true, macspoofchk: true },
      { ipam: { ips: [{ address: "fd00::5/64", gateway: "fd00::1" }] } },
    ),
  );
  expect(lines).toEqual(
    expect.arrayContaining([
      "ip link set dev cni0 type bridge vlan_filtering 1",
      `ip link add ${port} mtu 1400 address 02:00:00:00:00:02 master cni0 type veth peer name eth0 mtu 1400 address 02:00:00:00:00:03 netns /run/netns/p1`,
      `ip link set dev ${port} type bridge_slave hairpin on isolated on`,
      `bridge vlan del dev ${port} vid 1`,
      `bridge vlan add dev ${port} vid 100 pvid untagged`,
      `bridge vlan add dev ${port} vid 200`,
      "nsenter --net=/run/netns/p1 sysctl -w net/ipv6/conf/eth0/enhanced_dad=1",
      "nsenter --net=/run/netns/p1 sysctl -w net/ipv6/conf/eth0/accept_dad=1",
    ]),
  );
  expect(lines.some((l) => l.includes('masq_pods6 { fd00::5 comment "net1/ctr1/eth0" }'))).toBe(true);
  expect(lines.some((l) => l.includes(`spoofchk_allowed { "${port}" . 02:00:00:00:00:03`))).toBe(true);
});

test("planAdd() leaves the pod interface alone with disableContainerInterface", () => {
  const lines = script(input({ disableContainerInterface: true }, { ipam: {} }));
  expect(lines.filter((l) => l.startsWith("nsenter"))).toEqual([]);
});

describe("parseBridgeConfig()", () => {
  test("fills in the reference defaults; isDefaultGateway implies isGateway", () => {
    expect(cfg({ isDefaultGateway: true })).toMatchObject({ bridge: "cni0", isGateway: true, mtu: 0, vlan: 0, trunk: [], ipMasq: false });
  });

  test("takes the MAC from CNI_ARGS, then args.cni.mac, then runtimeConfig.mac", () => {
    const base = { cniVersion: "1.0.0", name: "n", type: "bridge" };
    expect(parseBridgeConfig(base, inv({ MAC: "02:00:00:00:00:0A" })).mac).toBe("02:00:00:00:00:0a");
    expect(parseBridgeConfig({ ...base, args: { cni: { mac: "02:00:00:00:00:0b" } } }, inv({ MAC: "02:00:00:00:00:0a" })).mac).toBe("02:00:00:00:00:0b");
    expect(parseBridgeConfig({ ...base, runtimeConfig: { mac: "02:00:00:00:00:0c" }, args: { cni: { mac: "02:00:00:00:00:0b" } } }, inv()).mac).toBe("02:00:00:00:00:0c");
    expect(() => parseBridgeConfig(base, inv({ MAC: "nope" }))).toThrow(expect.objectContaining({ code: 4 }));
  });

  test("expands trunk ranges", () => {
    expect(cfg({ vlanTrunk: [{ id: 5 }, { minID: 10, maxID: 12 }, { id: 11 }] }).trunk).toEqual([5, 10, 11, 12]);
  });

  test.each([
    [{ ipMasqBackend: "pf" }, 7],
    [{ mtu: "1500" }, 7],
    [{ vlanTrunk: [{ id: 1, minID: 2, maxID: 3 }] }, 7],
    [{ vlanTrunk: [{ minID: 9, maxID: 3 }] }, 7],
    [{ disableContainerInterface: true, ipam: { type: "host-local" } }, 7],
    [{ unknownKey: true }, 2],
  ])("rejects %j with code %i", (extra, code) => {
    expect(() => cfg(extra)).toThrow(expect.objectContaining({ code }));
  });
});
