import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { explain, parseExplainArgs, readConflist } from "./explain";

const macs = (lines: string[]) => lines.map((l) => l.replace(/([0-9a-f]{2}:){5}[0-9a-f]{2}/g, "<mac>"));
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "pc-explain-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test("parseExplainArgs(): defaults, options, and refusals", () => {
  expect(parseExplainArgs(["net.conflist"])).toEqual({ file: "net.conflist", command: "ADD", netns: "/run/netns/example", ifname: "eth0", containerId: "example" });
  expect(parseExplainArgs(["--command", "del", "x.conf", "--netns", "/run/netns/p", "--ifname", "net1", "--container-id", "abc"])).toEqual({
    file: "x.conf",
    command: "DEL",
    netns: "/run/netns/p",
    ifname: "net1",
    containerId: "abc",
  });
  expect(() => parseExplainArgs([])).toThrow("CONFLIST is missing");
  expect(() => parseExplainArgs(["a", "b"])).toThrow("one CONFLIST only");
  expect(() => parseExplainArgs(["a", "--command", "CHECK"])).toThrow("ADD or DEL");
  expect(() => parseExplainArgs(["a", "--ifname", "eth0; reboot"])).toThrow("invalid --netns, --ifname or --container-id");
  expect(() => parseExplainArgs(["a", "--netns", "relative/path"])).toThrow("invalid");
  expect(() => parseExplainArgs(["a", "--bogus"])).toThrow("unknown option");
});

test("readConflist(): a conflist as is, a single .conf as a list of one", () => {
  expect(readConflist('{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge"}]}')).toEqual({ cniVersion: "1.0.0", name: "n", plugins: [{ type: "bridge" }] });
  expect(readConflist('{"cniVersion":"0.4.0","name":"n","type":"ptp","ipMasq":true}')).toEqual({ cniVersion: "0.4.0", name: "n", plugins: [{ type: "ptp", ipMasq: true }] });
  expect(() => readConflist('{"name":"n"}')).toThrow('neither "plugins" nor "type"');
});

test("explain() ADD: the IPAM prediction from the store, then the planner's commands in order; nothing written", async () => {
  const dataDir = join(dir, "ipam");
  mkdirSync(join(dataDir, "rt"), { recursive: true });
  writeFileSync(join(dataDir, "rt", "10.30.0.2"), "someone-else\r\neth0"); // taken: the next one is predicted
  const list = { cniVersion: "1.1.0", name: "rt", plugins: [{ type: "veth-routed", mtu: 1400, ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.30.0.0/24" }]] } }, { type: "tuning" }] };
  const o = { file: "x", command: "ADD" as const, netns: "/run/netns/p1", ifname: "eth0", containerId: "c1" };
  const lines = macs(await explain(o, list));
  const port = lines.find((l) => l.startsWith("ip link add"))!.split(" ")[3];
  expect(lines.filter((l) => !l.startsWith("#") && l !== "")).toEqual([
    "set -e",
    `ip link add ${port} mtu 1400 address <mac> type veth peer name eth0 mtu 1400 address <mac> netns /run/netns/p1`,
    `ip link set dev ${port} up`,
    `ip addr replace 10.30.0.1/32 dev ${port}`,
    `ip route add 10.30.0.3/32 dev ${port}`,
    `sysctl -w net/ipv6/conf/${port}/accept_ra=0`,
    "sysctl -w net.ipv4.ip_forward=1",
    "nsenter --net=/run/netns/p1 ip addr add 10.30.0.3/32 dev eth0",
    "nsenter --net=/run/netns/p1 ip link set dev eth0 up",
    "nsenter --net=/run/netns/p1 ip route add 10.30.0.1/32 dev eth0 scope link",
    "nsenter --net=/run/netns/p1 ip route add default via 10.30.0.1 dev eth0",
  ]);
  expect(lines).toContain("# IPAM host-local: would reserve 10.30.0.3/24 (gateway 10.30.0.1) for c1/eth0");
  expect(lines).toContain("# 2. tuning (not a patchcord plugin: runs as its own executable, not explained)");
  const { readdirSync } = await import("node:fs");
  expect(readdirSync(join(dataDir, "rt"))).toEqual(["10.30.0.2"]);
});

test("explain() DEL: plugins in reverse order, the addresses host-local would release, best effort", async () => {
  const dataDir = join(dir, "ipam");
  mkdirSync(join(dataDir, "m"), { recursive: true });
  writeFileSync(join(dataDir, "m", "10.31.0.7"), "c9\r\nnet1");
  const list = { cniVersion: "1.1.0", name: "m", plugins: [{ type: "macvlan", master: "eth9", ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.31.0.0/24" }]] } }, { type: "bandwidth" }] };
  const lines = await explain({ file: "x", command: "DEL", netns: "/run/netns/p9", ifname: "net1", containerId: "c9" }, list);
  expect(lines).not.toContain("set -e");
  expect(lines.indexOf("# 1. bandwidth (not a patchcord plugin: runs as its own executable, not explained)")).toBeLessThan(lines.indexOf("# 2. macvlan"));
  expect(lines).toContain("nsenter --net=/run/netns/p9 ip link del dev net1");
  expect(lines).toContain(`# IPAM host-local: would release 10.31.0.7/24 (removing their files under ${join(dataDir, "m")})`);
});

test("explain() says where and why a plugin would fail, and stops there", async () => {
  const list = { cniVersion: "1.1.0", name: "bad", plugins: [{ type: "veth-routed", mtu: 20, ipam: { type: "host-local", ranges: [[{ subnet: "10.32.0.0/24" }]] } }] };
  const lines = await explain({ file: "x", command: "ADD", netns: "/run/netns/p", ifname: "eth0", containerId: "c" }, list);
  expect(lines.slice(-2)).toEqual(["# veth-routed would fail here: error 7: mtu: 20 is below 68, the smallest MTU a link can have (0 keeps the default)", "exit 1"]);
});

test("explain() knows the agent's conflist: plugins named patchcord-<name>, IPAM patchcord-host-local", async () => {
  const dataDir = join(dir, "ipam");
  const list = {
    cniVersion: "1.0.0",
    name: "patchcord",
    plugins: [
      { type: "patchcord-veth-routed", mtu: 1450, ipMasq: false, ipam: { type: "patchcord-host-local", dataDir, ranges: [[{ subnet: "10.244.1.0/24" }]], routes: [{ dst: "0.0.0.0/0" }] } },
      { type: "portmap", capabilities: { portMappings: true } },
    ],
  };
  const lines = await explain({ file: "x", command: "ADD", netns: "/run/netns/p1", ifname: "eth0", containerId: "c1" }, list);
  expect(lines).toContain("# 1. patchcord-veth-routed");
  expect(lines).toContain("# IPAM host-local: would reserve 10.244.1.2/24 (gateway 10.244.1.1) for c1/eth0");
  expect(lines.some((l) => l.startsWith("ip link add "))).toBe(true);
});
