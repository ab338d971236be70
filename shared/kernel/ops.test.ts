import { addAddress, addRoute, addVeth, bridgeVlan, deleteLink, deleteRoute, nftScript, renderScript, renderShell, setLink, setSysctl } from "./ops";

describe("renderShell()", () => {
  test.each([
    [addVeth({ name: "veth1", peer: "eth0", peerNetns: "/run/netns/pod1", mtu: 1400, peerMac: "02:AA:bb:cc:dd:ee", master: "cni0" }), "ip link add veth1 mtu 1400 master cni0 type veth peer name eth0 mtu 1400 address 02:aa:bb:cc:dd:ee netns /run/netns/pod1"],
    [setLink({ name: "cni0", up: true }), "ip link set dev cni0 up"],
    [setLink({ netns: "/run/netns/p", name: "eth0", mtu: 9000, master: null, up: false }), "nsenter --net=/run/netns/p ip link set dev eth0 mtu 9000 nomaster down"],
    [deleteLink({ name: "veth1" }), "ip link del dev veth1"],
    [addAddress({ netns: "/run/netns/p", dev: "eth0", address: "10.0.0.5/24" }), "nsenter --net=/run/netns/p ip addr add 10.0.0.5/24 dev eth0"],
    [addAddress({ dev: "eth0", address: "FD00:0:0::5/64" }), "ip addr add fd00::5/64 dev eth0"],
    [addRoute({ dst: "default", gw: "fd00::1", dev: "eth0" }), "ip -6 route add default via fd00::1 dev eth0"],
    [addRoute({ dst: "10.1.0.0/16", gw: "10.0.0.1", metric: 100, table: 5 }), "ip route add 10.1.0.0/16 via 10.0.0.1 metric 100 table 5"],
    [addRoute({ dst: "10.0.0.1/32", dev: "eth0", scope: "link", src: "10.0.0.5" }), "ip route add 10.0.0.1/32 dev eth0 scope link src 10.0.0.5"],
    [deleteRoute({ dst: "10.1.0.0/16", dev: "eth0" }), "ip route del 10.1.0.0/16 dev eth0"],
    [setSysctl({ key: "net.ipv4.ip_forward", value: 1 }), "sysctl -w net.ipv4.ip_forward=1"],
    [setSysctl({ netns: "/proc/7/ns/net", key: "net/ipv4/conf/eth0.100/arp_notify", value: "1" }), "nsenter --net=/proc/7/ns/net sysctl -w net/ipv4/conf/eth0.100/arp_notify=1"],
    [bridgeVlan({ action: "add", dev: "veth1", vid: 100, pvid: true, untagged: true }), "bridge vlan add dev veth1 vid 100 pvid untagged"],
    [nftScript({ script: "add table inet x\n" }), "nft -f - <<'EOF'\nadd table inet x\nEOF"],
  ])("%# renders as %s", (op, text) => {
    expect(renderShell(op)).toBe(text);
  });

  test("quotes words a shell would split", () => {
    expect(renderShell({ tool: "ip", argv: ["link", "set", "x", "alias", "a b'c"] })).toBe("ip link set x alias 'a b'\\''c'");
  });
});

test("renderScript() is the plan as a commented script", () => {
  expect(renderScript([setLink({ name: "cni0", up: true }), deleteLink({ name: "veth1" })], "bridge ADD")).toBe("# bridge ADD\nip link set dev cni0 up\nip link del dev veth1\n");
});

test("addVeth(), addAddress() and addRoute() know their undo", () => {
  expect(addVeth({ name: "veth1", peer: "eth0" })).toMatchObject({ undo: ["link", "del", "veth1"] });
  expect(addAddress({ dev: "eth0", address: "10.0.0.5/24" })).toMatchObject({ undo: ["addr", "del", "10.0.0.5/24", "dev", "eth0"] });
  expect(addRoute({ dst: "default", gw: "10.0.0.1" })).toMatchObject({ undo: ["route", "del", "default", "via", "10.0.0.1"] });
});

describe("injection attempts are rejected with code 7", () => {
  test.each([
    ["an interface name with a space", () => setLink({ name: "eth0 up", up: true })],
    ["an interface name with a newline", () => deleteLink({ name: "eth0\nlink del lo" })],
    ["a master name with a newline", () => setLink({ name: "eth0", master: "br0\nx" })],
    ["a netns path with a newline", () => setLink({ netns: "/run/netns/x\nlink del lo", name: "eth0" })],
    ["a netns path with a space", () => setLink({ netns: "/run/netns/x y", name: "eth0" })],
    ["a relative netns path", () => setLink({ netns: "x", name: "eth0" })],
    ["a MAC with extra words", () => setLink({ name: "eth0", mac: "02:00:00:00:00:01 up" })],
    ["a route destination with extra words", () => addRoute({ dst: "10.0.0.0/8 dev eth0" })],
    ["a gateway that is not an address", () => addRoute({ dst: "default", gw: "10.0.0.1 onlink" })],
    ["an address without prefix", () => addAddress({ dev: "eth0", address: "10.0.0.5" })],
    ["a sysctl key outside net.", () => setSysctl({ key: "kernel.core_pattern", value: 1 })],
    ["a sysctl key with ..", () => setSysctl({ key: "net/../kernel/x", value: 1 })],
    ["a sysctl value that is not an integer", () => setSysctl({ key: "net.ipv4.ip_forward", value: "1 2" })],
    ["an MTU out of range", () => addVeth({ name: "v", peer: "p", mtu: 20 })],
    ["a VLAN id out of range", () => bridgeVlan({ action: "add", dev: "v", vid: 4095 })],
  ])("%s", (_what, build) => {
    expect(build).toThrow(expect.objectContaining({ code: 7 }));
  });
});
