import { CniError } from "../cni/errors";
import {
  addAddress,
  addRoute,
  addVeth,
  bridgeVlan,
  checkMac,
  checkMtu,
  deleteLink,
  deleteRoute,
  nftScript,
  nsPrefix,
  renderScript,
  renderShell,
  setLink,
  setSysctl,
  shellJoin,
} from "./ops";

const rejected = (build: () => unknown): CniError => {
  try {
    build();
  } catch (e) {
    expect(e).toBeInstanceOf(CniError);
    return e as CniError;
  }
  throw new Error("expected the builder to reject its input");
};

describe("renderShell()", () => {
  test.each([
    [addVeth({ name: "veth1", peer: "eth0", peerNetns: "/run/netns/pod1", mtu: 1400, peerMac: "02:AA:bb:cc:dd:ee", master: "cni0" }), "ip link add veth1 mtu 1400 master cni0 type veth peer name eth0 mtu 1400 address 02:aa:bb:cc:dd:ee netns /run/netns/pod1"],
    [setLink({ name: "cni0", up: true }), "ip link set dev cni0 up"],
    [setLink({ netns: "/run/netns/p", name: "eth0", mtu: 9000, master: null, up: false }), "nsenter --net=/run/netns/p ip link set dev eth0 mtu 9000 nomaster down"],
    [deleteLink({ name: "veth1" }), "ip link del dev veth1"],
    [addAddress({ netns: "/run/netns/p", dev: "eth0", address: "10.0.0.5/24" }), "nsenter --net=/run/netns/p ip addr add 10.0.0.5/24 dev eth0"],
    [addAddress({ dev: "eth0", address: "FD00:0:0::5/64" }), "ip addr add fd00::5/64 dev eth0"],
    [addRoute({ dst: "default", gw: "fd00::1", dev: "eth0" }), "ip route add ::/0 via fd00::1 dev eth0"],
    [addRoute({ dst: "10.1.0.0/16", gw: "10.0.0.1", metric: 100, table: 5 }), "ip route add 10.1.0.0/16 via 10.0.0.1 metric 100 table 5"],
    [addRoute({ dst: "10.0.0.1/32", dev: "eth0", scope: "link", src: "10.0.0.5" }), "ip route add 10.0.0.1/32 dev eth0 scope link src 10.0.0.5"],
    [deleteRoute({ dst: "10.1.0.0/16", dev: "eth0" }), "ip route del 10.1.0.0/16 dev eth0"],
    [setSysctl({ key: "net.ipv4.ip_forward", value: 1 }), "sysctl -w net.ipv4.ip_forward=1"],
    [setSysctl({ netns: "/proc/7/ns/net", key: "net/ipv4/conf/eth0.100/arp_notify", value: "1" }), "nsenter --net=/proc/7/ns/net sysctl -w net/ipv4/conf/eth0.100/arp_notify=1"],
    [bridgeVlan({ action: "add", dev: "veth1", vid: 100, pvid: true, untagged: true }), "bridge vlan add dev veth1 vid 100 pvid untagged"],
    [nftScript({ script: "add table inet x\n" }), "nft -f - <<'EOF'\nadd table inet x\nEOF"],
  ])("renderShell() %# renders as %s", (op, text) => {
    expect(renderShell(op)).toBe(text);
  });

  test("renderShell() quotes words a shell would split", () => {
    expect(renderShell({ tool: "ip", argv: ["link", "set", "x", "alias", "a b'c"] })).toBe("ip link set x alias 'a b'\\''c'");
  });
});

describe("addVeth()", () => {
  test("addVeth() creates both ends in one command, the peer directly in its netns path", () => {
    const op = addVeth({ name: "veth1234", peer: "eth0", peerNetns: "/var/run/netns/cni-1234-abcd" });
    expect(op).toEqual({ tool: "ip", netns: undefined, argv: ["link", "add", "veth1234", "type", "veth", "peer", "name", "eth0", "netns", "/var/run/netns/cni-1234-abcd"], undo: ["link", "del", "veth1234"] });
    expect(renderShell(op)).toBe("ip link add veth1234 type veth peer name eth0 netns /var/run/netns/cni-1234-abcd");
  });

  test("addVeth() accepts a /proc/PID/ns/net path for the peer", () => {
    expect(renderShell(addVeth({ name: "v1", peer: "eth0", peerNetns: "/proc/4242/ns/net" }))).toBe("ip link add v1 type veth peer name eth0 netns /proc/4242/ns/net");
  });

  test("addVeth() without peerNetns keeps both ends here", () => {
    expect(renderShell(addVeth({ name: "v1", peer: "v2" }))).toBe("ip link add v1 type veth peer name v2");
  });

  test("addVeth() puts the host MAC before `type` and the peer MAC after `peer`, lower-cased", () => {
    const op = addVeth({ name: "v1", peer: "eth0", mac: "0A:58:0A:00:00:01", peerMac: "0A:58:0A:00:00:02" });
    expect(renderShell(op)).toBe("ip link add v1 address 0a:58:0a:00:00:01 type veth peer name eth0 address 0a:58:0a:00:00:02");
  });
});

describe("setLink() and deleteLink()", () => {
  test("setLink() sets MTU, MAC, master and state in that order", () => {
    expect(renderShell(setLink({ name: "veth1", mtu: 1500, mac: "02:00:00:00:00:0A", master: "cni0", up: true }))).toBe(
      "ip link set dev veth1 mtu 1500 address 02:00:00:00:00:0a master cni0 up",
    );
  });

  test("setLink() with nothing to change is a bare `link set dev`", () => {
    expect(setLink({ name: "eth0" })).toEqual({ tool: "ip", netns: undefined, argv: ["link", "set", "dev", "eth0"], undo: undefined });
  });

  test("deleteLink() runs in the netns it is given and has no undo", () => {
    const op = deleteLink({ netns: "/run/netns/p", name: "eth0" });
    expect(renderShell(op)).toBe("nsenter --net=/run/netns/p ip link del dev eth0");
    expect(op).toMatchObject({ netns: "/run/netns/p", undo: undefined });
  });
});

describe("addAddress()", () => {
  test("addAddress() keeps the host bits of 10.0.0.5/24 (an interface address, not a network)", () => {
    const op = addAddress({ netns: "/run/netns/p", dev: "eth0", address: "10.0.0.5/24" });
    expect(op).toEqual({ tool: "ip", netns: "/run/netns/p", argv: ["addr", "add", "10.0.0.5/24", "dev", "eth0"], undo: ["addr", "del", "10.0.0.5/24", "dev", "eth0"] });
  });

  test("addAddress() canonicalises the address text, in the undo too", () => {
    const op = addAddress({ dev: "eth0", address: "2001:0DB8:0000:0000:0000:0000:0000:0005/64" });
    expect(renderShell(op)).toBe("ip addr add 2001:db8::5/64 dev eth0");
    expect(op).toMatchObject({ undo: ["addr", "del", "2001:db8::5/64", "dev", "eth0"] });
  });

  test.each(["10.0.0.5", "10.0.0.5/33", "010.0.0.5/24", "10.0.0.5/24 dev eth1", "10.0.0.5/24\naddr flush dev eth0", "::ffff:10.0.0.5/24", ""])(
    "addAddress() rejects the address %j with code 7",
    (address) => {
      expect(rejected(() => addAddress({ dev: "eth0", address })).code).toBe(7);
    },
  );
});

describe("addRoute() and deleteRoute()", () => {
  test("addRoute() writes an IPv4 default route without a family flag", () => {
    const op = addRoute({ netns: "/run/netns/p", dst: "default", gw: "10.0.0.1", dev: "eth0" });
    expect(renderShell(op)).toBe("nsenter --net=/run/netns/p ip route add default via 10.0.0.1 dev eth0");
    expect(op).toMatchObject({ undo: ["route", "del", "default", "via", "10.0.0.1", "dev", "eth0"] });
  });

  // `ip -batch` lines take no options such as -6, so the IPv6 default route is written ::/0.
  test("addRoute() writes an IPv6 default route as ::/0, in the undo too", () => {
    const op = addRoute({ dst: "default", gw: "fe80::1", dev: "eth0" });
    expect(op).toMatchObject({ argv: ["route", "add", "::/0", "via", "fe80::1", "dev", "eth0"], undo: ["route", "del", "::/0", "via", "fe80::1", "dev", "eth0"] });
  });

  test("addRoute() needs no -6 for an IPv6 prefix (ip infers the family)", () => {
    expect(renderShell(addRoute({ dst: "2001:db8::/64", gw: "2001:db8::1" }))).toBe("ip route add 2001:db8::/64 via 2001:db8::1");
  });

  test("addRoute() canonicalises destination and gateway", () => {
    expect(renderShell(addRoute({ dst: "2001:DB8:0:0::/64", gw: "2001:DB8::0001" }))).toBe("ip route add 2001:db8::/64 via 2001:db8::1");
  });

  // ::ffff:10.0.0.1 is parsed (and printed) as the IPv4 address 10.0.0.1: the family of the
  // default route follows the parsed gateway, not its text.
  test("addRoute() chooses the family from the parsed gateway, not its text", () => {
    expect(renderShell(addRoute({ dst: "default", gw: "::ffff:10.0.0.1" }))).toBe("ip route add default via 10.0.0.1");
  });

  test("deleteRoute() writes an IPv6 default route as ::/0 and an IPv4 one as default", () => {
    expect(renderShell(deleteRoute({ dst: "default", gw: "fd00::1" }))).toBe("ip route del ::/0 via fd00::1");
    expect(renderShell(deleteRoute({ dst: "default", gw: "10.0.0.1" }))).toBe("ip route del default via 10.0.0.1");
  });
});

describe("setSysctl()", () => {
  test("setSysctl() keeps the key and turns the value into text", () => {
    expect(setSysctl({ key: "net.ipv4.ip_forward", value: 1 })).toEqual({ tool: "sysctl", netns: undefined, key: "net.ipv4.ip_forward", value: "1" });
    expect(setSysctl({ key: "net.ipv4.conf.all.rp_filter", value: 0 })).toMatchObject({ value: "0" });
    expect(setSysctl({ key: "net.ipv6.conf.eth0.accept_dad", value: "-1" })).toMatchObject({ value: "-1" });
  });

  test("setSysctl() marks optional sysctls and only those", () => {
    expect(setSysctl({ key: "net.ipv6.conf.all.forwarding", value: 1, optional: true })).toMatchObject({ optional: true });
    expect("optional" in setSysctl({ key: "net.ipv6.conf.all.forwarding", value: 1 })).toBe(false);
  });

  test("setSysctl() renders inside a netns with nsenter", () => {
    expect(renderShell(setSysctl({ netns: "/run/netns/p", key: "net.ipv6.conf.eth0.accept_dad", value: 0 }))).toBe(
      "nsenter --net=/run/netns/p sysctl -w net.ipv6.conf.eth0.accept_dad=0",
    );
  });

  test.each([
    "net.ipv4..ip_forward",
    "net/ipv4/../../kernel/core_pattern",
    "net/../kernel/x",
    "net.ipv4.conf.eth0.forwarding/..",
    "kernel.core_pattern",
    "vm.overcommit_memory",
    "netx.ipv4.ip_forward",
    ".net.ipv4.ip_forward",
    "/net/ipv4/ip_forward",
    "net.ipv4.ip_forward ",
    "net.ipv4.ip_forward 1",
    "net.ipv4.ip_forward=1",
    "net.ipv4.ip_forward\nkernel.x",
    "net.ipv4.conf.eth 0.forwarding",
    "",
  ])("setSysctl() rejects the key %j with code 7", (key) => {
    const e = rejected(() => setSysctl({ key, value: 1 }));
    expect(e.code).toBe(7);
    expect(e.message).toBe(`sysctl key ${JSON.stringify(key)} must be a net.* key of plain words`);
  });

  test.each(["1 2", "1\n", "1;reboot", "abc", "", "0x1", "1.5", 1.5, "+1", " 1", NaN])("setSysctl() rejects the non-integer value %j with code 7", (value) => {
    const e = rejected(() => setSysctl({ key: "net.ipv4.ip_forward", value }));
    expect(e.code).toBe(7);
    expect(e.message).toMatch(/^sysctl value .* must be an integer$/);
  });
});

describe("nftScript()", () => {
  test("nftScript() renders as a quoted heredoc with trailing whitespace trimmed", () => {
    const script = "table ip patchcord {\n  set masq { type ipv4_addr; }\n}\n\n";
    expect(renderShell(nftScript({ script }))).toBe("nft -f - <<'EOF'\ntable ip patchcord {\n  set masq { type ipv4_addr; }\n}\nEOF");
  });

  test("nftScript() keeps the script unchanged in the op, with its undo and netns", () => {
    const op = nftScript({ netns: "/run/netns/p", script: "add table inet a\n", undo: "delete table inet a\n" });
    expect(op).toEqual({ tool: "nft", netns: "/run/netns/p", script: "add table inet a\n", undo: "delete table inet a\n" });
    expect(renderShell(op)).toBe("nsenter --net=/run/netns/p nft -f - <<'EOF'\nadd table inet a\nEOF");
  });
});

describe("nftScript() with setup", () => {
  test("nftScript() keeps setup only when given", () => {
    expect(nftScript({ script: "add element ip t s { 10.0.0.2 }\n", setup: "add table ip t\n" })).toMatchObject({ setup: "add table ip t\n" });
    expect("setup" in nftScript({ script: "x" })).toBe(false);
    expect("setup" in nftScript({ script: "x", setup: "" })).toBe(false);
  });

  test("renderShell() of an nft op shows the setup before the script (the whole idempotent transaction)", () => {
    expect(renderShell(nftScript({ script: "add element ip t s { 10.0.0.2 }\n", setup: "add table ip t\nadd set ip t s { type ipv4_addr; }\n" }))).toBe(
      "nft -f - <<'EOF'\nadd table ip t\nadd set ip t s { type ipv4_addr; }\nadd element ip t s { 10.0.0.2 }\nEOF",
    );
  });
});

describe("bridgeVlan(), checkMtu(), checkMac()", () => {
  test("bridgeVlan() accepts VLAN ids 1 to 4094 and deletes too", () => {
    expect(renderShell(bridgeVlan({ action: "del", dev: "veth1", vid: 1 }))).toBe("bridge vlan del dev veth1 vid 1");
    expect(renderShell(bridgeVlan({ netns: "/run/netns/p", action: "add", dev: "eth0", vid: 4094 }))).toBe("nsenter --net=/run/netns/p bridge vlan add dev eth0 vid 4094");
  });

  test.each([0, 4095, -1, 10.5, NaN])("bridgeVlan() rejects the VLAN id %p with code 7", (vid) => {
    expect(rejected(() => bridgeVlan({ action: "add", dev: "v", vid })).code).toBe(7);
  });

  test("checkMtu() accepts 68 to 65535", () => {
    expect(checkMtu(68)).toBe("68");
    expect(checkMtu(65535)).toBe("65535");
  });

  test.each([67, 65536, 1500.5, -1, NaN, Infinity])("checkMtu() rejects %p with code 7", (mtu) => {
    expect(rejected(() => checkMtu(mtu)).code).toBe(7);
  });

  test("checkMac() lower-cases a valid MAC", () => {
    expect(checkMac("AA:BB:CC:DD:EE:FF")).toBe("aa:bb:cc:dd:ee:ff");
  });

  test.each(["aa:bb:cc:dd:ee:ff extra", "aa:bb:cc:dd:ee:ff\n", "aa-bb-cc-dd-ee-ff", "aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:ff:00", "aabb.ccdd.eeff", "gg:bb:cc:dd:ee:ff", " aa:bb:cc:dd:ee:ff", ""])(
    "checkMac() rejects %j with code 7",
    (mac) => {
      expect(rejected(() => checkMac(mac)).code).toBe(7);
    },
  );
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
    ["a veth name with a space", () => addVeth({ name: "veth1 type dummy", peer: "eth0" })],
    ["a veth name with a newline", () => addVeth({ name: "veth1\nlink del eth0", peer: "eth0" })],
    ["a veth peer name with a space", () => addVeth({ name: "veth1", peer: "eth0 netns 1" })],
    ["a veth peer name with a tab", () => addVeth({ name: "veth1", peer: "eth\t0" })],
    ["a veth name starting with -", () => addVeth({ name: "-force", peer: "eth0" })],
    ["a veth name that is too long", () => addVeth({ name: "veth1234567890ab", peer: "eth0" })],
    ["a peer netns path with a newline", () => addVeth({ name: "veth1", peer: "eth0", peerNetns: "/run/netns/x\nlink del eth0" })],
    ["a peer netns path with a space", () => addVeth({ name: "veth1", peer: "eth0", peerNetns: "/run/netns/x mtu 9000" })],
    ["a peer netns path with a tab", () => addVeth({ name: "veth1", peer: "eth0", peerNetns: "/run/netns/x\tmtu" })],
    ["a relative peer netns path", () => addVeth({ name: "veth1", peer: "eth0", peerNetns: "run/netns/x" })],
    ["a peer netns path with ..", () => addVeth({ name: "veth1", peer: "eth0", peerNetns: "/run/netns/../../proc/1/ns/net" })],
    ["a host MAC with extra text", () => addVeth({ name: "veth1", peer: "eth0", mac: "02:00:00:00:00:01 mtu 9000" })],
    ["a peer MAC with a newline", () => addVeth({ name: "veth1", peer: "eth0", peerMac: "02:00:00:00:00:01\nlink del eth0" })],
    ["an address netns path with a space", () => addAddress({ netns: "/run/netns/x y", dev: "eth0", address: "10.0.0.5/24" })],
    ["an address device with a space", () => addAddress({ dev: "eth0 label x", address: "10.0.0.5/24" })],
    ["a route device with extra words", () => addRoute({ dst: "10.0.0.0/8", dev: "eth0 table 5" })],
    ["a route source with extra words", () => addRoute({ dst: "10.0.0.0/8", src: "10.0.0.5 table 5" })],
    ["a route gateway with a newline", () => addRoute({ dst: "10.0.0.0/8", gw: "10.0.0.1\nroute flush all" })],
    ["a route netns path with a newline", () => addRoute({ netns: "/run/netns/x\n", dst: "default", gw: "10.0.0.1" })],
    ["a delete-route destination with extra words", () => deleteRoute({ dst: "10.0.0.0/8 dev eth0" })],
    ["a sysctl netns path that is relative", () => setSysctl({ netns: "netns", key: "net.ipv4.ip_forward", value: 1 })],
    ["an nft netns path with a newline", () => nftScript({ netns: "/run/netns/x\n", script: "list ruleset" })],
    ["a bridge port name with a space", () => bridgeVlan({ action: "add", dev: "veth1 self", vid: 10 })],
  ])("%s", (_what, build) => {
    expect(build).toThrow(expect.objectContaining({ code: 7 }));
    const e = rejected(build);
    expect(e.message).toMatch(/ ".*" | \d+ /); // names the offending value (JSON-quoted)
  });

  test("a rejected value is quoted in the message so that its newline is visible", () => {
    expect(rejected(() => deleteLink({ name: "eth0\nup" })).message).toBe('interface name "eth0\\nup" contains / or : or whitespace');
    expect(rejected(() => setLink({ netns: "/run/netns/x y", name: "eth0" })).message).toBe('netns path "/run/netns/x y" contains whitespace, # or a quote or backslash');
    expect(rejected(() => addRoute({ dst: "10.0.0.0/8 dev eth0" })).message).toBe('route destination "10.0.0.0/8 dev eth0" is not an address with prefix length');
  });
});

describe("names that `ip -batch` would read differently", () => {
  // apply.ts feeds these commands to `ip -batch -` / `bridge -batch -`. iproute2 (getcmdline and
  // makeargs in lib/utils.c) cuts every batch line at the first `#` and strips quotes around a word,
  // so `link del dev eth0#x` deletes eth0 and `link set dev 'lo' up` acts on lo (checked with
  // iproute2 6.1: `printf 'link show dev lo#x\n' | ip -batch -` shows lo). interfaceNameProblem()
  // accepts `#`, `'` and `"`, so a name from CNI_IFNAME or the config can redirect a command to
  // another interface, despite "no config value can add words or lines to a command".
  test.each(["eth0#x", "'eth0'", '"eth0"', "x#"])("checkIfname() via deleteLink() rejects %j with code 7", (name) => {
    expect(rejected(() => deleteLink({ name })).code).toBe(7);
  });
});

describe("shell helpers", () => {
  test("nsPrefix() is empty for the host and nsenter --net=PATH for a netns", () => {
    expect(nsPrefix(undefined)).toEqual([]);
    expect(nsPrefix("/run/netns/p")).toEqual(["nsenter", "--net=/run/netns/p"]);
  });

  test("shellJoin() leaves plain words alone and single-quotes the rest", () => {
    expect(shellJoin(["ip", "-6", "route", "add", "fd00::/64", "via", "fd00::1"])).toBe("ip -6 route add fd00::/64 via fd00::1");
    expect(shellJoin(["echo", "a b", "$(id)", "x;y", "it's", ""])).toBe("echo 'a b' '$(id)' 'x;y' 'it'\\''s' ''");
  });

  test("renderScript() is the plan as a commented script", () => {
    expect(renderScript([setLink({ name: "cni0", up: true }), deleteLink({ name: "veth1" })], "bridge ADD")).toBe("# bridge ADD\nip link set dev cni0 up\nip link del dev veth1\n");
  });

  test("renderScript() without a title has no comment line", () => {
    expect(renderScript([setSysctl({ key: "net.ipv4.ip_forward", value: 1 })])).toBe("sysctl -w net.ipv4.ip_forward=1\n");
  });

  test("addVeth(), addAddress() and addRoute() know their undo", () => {
    expect(addVeth({ name: "veth1", peer: "eth0" })).toMatchObject({ undo: ["link", "del", "veth1"] });
    expect(addAddress({ dev: "eth0", address: "10.0.0.5/24" })).toMatchObject({ undo: ["addr", "del", "10.0.0.5/24", "dev", "eth0"] });
    expect(addRoute({ dst: "default", gw: "10.0.0.1" })).toMatchObject({ undo: ["route", "del", "default", "via", "10.0.0.1"] });
  });
});
