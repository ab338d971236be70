import { existsSync } from "node:fs";
import { join } from "node:path";
import { Driver, Invocation } from "../../lab/driver";
import { World } from "../../lab/world";
import { Look } from "../../doctor/look";
import { readNode } from "../../doctor/node";
import { probe, ProbeReport } from "../../doctor/probe";
import { BIN, CNITOOL, haveBinaries, isRoot, testIf } from "./helpers";

// doctor --probe against the real kernel, on the lab's own topologies (lab/scenes.ts, the router
// scene): a node with veth-routed pods, and two nodes on a wire with a pod each. Everything lives in
// namespaces this file makes (prefix pd<pid>), deleted in afterAll; the pings go only between them.
const ready = isRoot && haveBinaries && existsSync(CNITOOL);
const it = testIf(ready, "needs root, the built binaries and dist/cnitool (conformance/cnitool/build.sh)");
// Made in beforeAll: a World makes its scratch directory at once, and a skipped file must not.
let world: World;
let driver: Driver;
const path = (ns: string) => `/run/netns/${ns}`;
const ipam = (subnet: string) => ({ type: "host-local", dataDir: join(world.dir, "ipam"), ranges: [[{ subnet }]] });
const hostVeth = (inv: Invocation) => ((inv.result.interfaces ?? []) as { name: string; sandbox?: string }[]).find((i) => !i.sandbox)!.name;

/** One node (a, b, c veth-routed on it) and two nodes on a wire (pod pa on node A, pb on node B, no route back on B). */
const t = {} as {
  node: string;
  a: string;
  b: string;
  c: string;
  ia: Invocation;
  ib: Invocation;
  ic: Invocation;
  nodeA: string;
  nodeB: string;
  pa: string;
  pb: string;
  ipa: Invocation;
  ipb: Invocation;
};

beforeAll(async () => {
  if (!ready) return;
  world = new World(`pd${process.pid.toString(36)}`);
  driver = new Driver(world, CNITOOL, [BIN]);
  t.node = await world.addNetns("node");
  [t.a, t.b, t.c] = [await world.addNetns("a"), await world.addNetns("b"), await world.addNetns("c")];
  driver.install(t.node, { cniVersion: "1.1.0", name: "probe-routed", plugins: [{ type: "veth-routed", ipam: ipam("10.77.1.0/24") }] });
  t.ia = await driver.add(t.node, "probe-routed", t.a);
  t.ib = await driver.add(t.node, "probe-routed", t.b);
  t.ic = await driver.add(t.node, "probe-routed", t.c);

  [t.nodeA, t.nodeB] = [await world.addNetns("node-a"), await world.addNetns("node-b")];
  [t.pa, t.pb] = [await world.addNetns("pa"), await world.addNetns("pb")];
  await world.sh(["ip", "-n", t.nodeA, "link", "add", "wire", "type", "veth", "peer", "name", "wire", "netns", t.nodeB]);
  await world.sh(["ip", "-n", t.nodeA, "addr", "add", "192.168.77.1/30", "dev", "wire"]);
  await world.sh(["ip", "-n", t.nodeB, "addr", "add", "192.168.77.2/30", "dev", "wire"]);
  await world.sh(["ip", "-n", t.nodeA, "link", "set", "wire", "up"]);
  await world.sh(["ip", "-n", t.nodeB, "link", "set", "wire", "up"]);
  await world.sh(["ip", "-n", t.nodeA, "route", "add", "10.77.3.0/24", "via", "192.168.77.2"]);
  driver.install(t.nodeA, { cniVersion: "1.1.0", name: "probe-node-a", plugins: [{ type: "veth-routed", ipam: ipam("10.77.2.0/24") }] });
  driver.install(t.nodeB, { cniVersion: "1.1.0", name: "probe-node-b", plugins: [{ type: "veth-routed", ipam: ipam("10.77.3.0/24") }] });
  t.ipa = await driver.add(t.nodeA, "probe-node-a", t.pa);
  t.ipb = await driver.add(t.nodeB, "probe-node-b", t.pb);
}, 120_000);

afterAll(async () => {
  await world?.teardown();
});

/** The change of one counter at one place (undefined when the report does not list it). */
const hop = (r: ProbeReport, where: string, counter: string) => r.hops.find((h) => h.where === where && h.counter === counter)?.delta;

async function probeOn(node: string, from: string, to: string) {
  const look = new Look();
  const view = await readNode(look, path(node));
  const out = await probe(look, view, path(from), path(to));
  return { ...out, look };
}

it("healthy: 3 of 3 come back, no finding, the counters of every hop in path order, and nothing but reads and the ping", async () => {
  const [veA, veB, ipB] = [hostVeth(t.ia), hostVeth(t.ib), Driver.address(t.ib)];
  const { report, finding, look } = await probeOn(t.node, t.a, t.b);
  expect(finding).toBeUndefined();
  expect(report).toMatchObject({ from: path(t.a), to: path(t.b), address: ipB, sent: 3, received: 3 });
  expect(report.verdict).toBe(`pod A reached pod B (${ipB}): 3 of 3 echo replies came back`);
  expect(report.hops[0]).toEqual({ where: "pod A", counter: "Icmp OutEchos", delta: 3 });
  expect(report.hops[report.hops.length - 1]).toEqual({ where: "pod A", counter: "Icmp InEchoReps", delta: 3 });
  expect([hop(report, "pod B", "Icmp InEchos"), hop(report, "pod B", "Icmp OutEchoReps")]).toEqual([3, 3]);
  // Both ways through the node: 3 requests and 3 replies forwarded.
  expect(hop(report, "node", "Ip ForwDatagrams")).toBe(6);
  for (const [where, counter] of [[`node ${veA}`, "rx packets"], [`node ${veB}`, "tx packets"], ["pod B eth0", "rx packets"], [`node ${veB}`, "rx packets"], [`node ${veA}`, "tx packets"], ["pod A eth0", "rx packets"]]) {
    expect([where, counter, hop(report, where, counter)! >= 3]).toEqual([where, counter, true]);
  }
  // Path order: out through pod A's veth peer before pod B, back through pod B's peer before pod A's.
  const at = (where: string, counter: string) => report.hops.findIndex((h) => h.where === where && h.counter === counter);
  const order = [at("pod A", "Icmp OutEchos"), at("pod A eth0", "tx packets"), at(`node ${veA}`, "rx packets"), at("node", "Ip ForwDatagrams"), at(`node ${veB}`, "tx packets"), at("pod B eth0", "rx packets"), at("pod B", "Icmp InEchos"), at("pod B", "Icmp OutEchoReps"), at("pod B eth0", "tx packets"), at(`node ${veB}`, "rx packets"), at(`node ${veA}`, "tx packets"), at("pod A eth0", "rx packets"), at("pod A", "Icmp InEchoReps")];
  expect(order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1]))).toBe(true);
  // Every command was a read in a namespace of ours, but for the ping from pod A.
  for (const c of look.ran) {
    const ping = c.startsWith(`nsenter --net=${path(t.a)} ping `);
    expect([c, ping || /^nsenter --net=\/run\/netns\/pd\S+ (cat \/proc\/net\/(snmp|snmp6|netstat)|ip (-j|-d|-s)|sysctl (-a|-n|net\.))/.test(c)]).toEqual([c, true]);
    expect(c).not.toMatch(/sysctl -w| (add|del|set) /);
  }
  expect(look.ran.filter((c) => c.includes(" ping "))).toEqual([`nsenter --net=${path(t.a)} ping -c 3 -W 1 -i 0.2 -n -q ${ipB}`]);
}, 60_000);

it("ip_forward off on the node: the requests reach the node and are not forwarded; the verdict names ip_forward", async () => {
  const veA = hostVeth(t.ia);
  await world.inNs(t.node, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=0"], { quiet: true });
  try {
    const { report, finding } = await probeOn(t.node, t.a, t.b);
    expect(report.verdict).toMatch(new RegExp(`^the echo requests left pod A and reached the node \\(${veA} rx \\+[3-9]\\) but were not forwarded: net\\.ipv4\\.ip_forward is 0 on the node$`));
    expect([report.sent, report.received]).toEqual([3, 0]);
    expect([hop(report, "pod A", "Icmp OutEchos"), hop(report, "node", "Ip ForwDatagrams"), hop(report, "node", "Ip InAddrErrors"), hop(report, "pod B", "Icmp InEchos"), hop(report, "pod A", "Icmp InEchoReps")]).toEqual([3, 0, 3, 0, 0]);
    expect(finding).toMatchObject({ id: "probe-failed", message: report.verdict, fix: [`nsenter --net=${path(t.node)} sysctl -w net.ipv4.ip_forward=1`] });
    const ev = finding!.evidence;
    expect(ev[0].command).toBe(`nsenter --net=${path(t.a)} ping -c 3 -W 1 -i 0.2 -n -q ${Driver.address(t.ib)}`);
    expect(ev[0].output).toMatch("3 packets transmitted, 0 received");
    expect(ev[1].command).toBe("counters before and after (cat /proc/net/snmp; cat /proc/net/netstat; ip -s -j link show)");
    expect(ev[1].output).toMatch(/^where +counter +change\npod A +Icmp OutEchos +\+3\n/);
    expect(ev[1].output).toMatch(new RegExp(`node ${veA} +rx packets +\\+[3-9]`));
    expect(ev.some((e) => e.command === `nsenter --net=${path(t.node)} sysctl net.ipv4.ip_forward` && e.output === "net.ipv4.ip_forward = 0")).toBe(true);
  } finally {
    await world.inNs(t.node, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"], { quiet: true });
  }
}, 60_000);

it("two nodes, no return route on node B: the request arrives and is answered, the reply dies at node B", async () => {
  // Doctor on node B (pod B's node, where the reply dies): the reply is counted into node B and dropped there.
  const [veB, ipa, ipb] = [hostVeth(t.ipb), Driver.address(t.ipa), Driver.address(t.ipb)];
  const onB = await probeOn(t.nodeB, t.pa, t.pb);
  expect(onB.report.verdict).toBe(
    `the echo requests reached pod B, which answered (OutEchoReps +3), but the replies never reached pod A: they died at the node on the way back (no route back to ${ipa}: InNoRoutes +3)`,
  );
  expect(onB.report).toMatchObject({ address: ipb, sent: 3, received: 0 });
  expect([hop(onB.report, "pod B", "Icmp InEchos"), hop(onB.report, "pod B", "Icmp OutEchoReps"), hop(onB.report, "node", "IpExt InNoRoutes"), hop(onB.report, "pod A", "Icmp InEchoReps")]).toEqual([3, 3, 3, 0]);
  expect(hop(onB.report, `node ${veB}`, "rx packets")).toBeGreaterThanOrEqual(3);
  // Pod A's veth is on node A: node B shows no hop of it.
  expect(onB.report.hops.filter((h) => h.where.startsWith("node ")).map((h) => h.where)).toEqual(expect.arrayContaining([`node ${veB}`]));
  expect(onB.report.hops.some((h) => h.where === `node ${hostVeth(t.ipa)}`)).toBe(false);
  expect(onB.finding).toMatchObject({ id: "probe-failed", message: onB.report.verdict, fix: [] });

  // Doctor on node A sees the requests leave and the replies never come back through it.
  const onA = await probeOn(t.nodeA, t.pa, t.pb);
  expect(onA.report.verdict).toMatch(/^the echo requests reached pod B, which answered \(OutEchoReps \+3\), but the replies never reached pod A: they never came back through this node \(\S+ tx \+0\) and no drop counter moved here: they died on the way back, before this node/);
  expect([hop(onA.report, "node", "Ip ForwDatagrams"), hop(onA.report, "node", "IpExt InNoRoutes")]).toEqual([3, 0]);
  expect(onA.finding?.id).toBe("probe-failed");
}, 60_000);

it("pod A without its default route sends nothing, and the verdict says it has no route", async () => {
  const ipB = Driver.address(t.ib);
  await world.inNs(t.c, ["ip", "route", "del", "default"], { quiet: true });
  const { report, finding } = await probeOn(t.node, t.c, t.b);
  expect(report.verdict).toBe(`pod A sent nothing: it has no route to ${ipB} (RTNETLINK answers: Network is unreachable)`);
  expect([report.sent, report.received, hop(report, "pod A", "Icmp OutEchos"), hop(report, "pod B", "Icmp InEchos")]).toEqual([0, 0, 0, 0]);
  expect(finding).toMatchObject({ id: "probe-failed", message: report.verdict });
  expect(finding!.evidence.map((e) => e.command)).toEqual([
    `nsenter --net=${path(t.c)} ping -c 3 -W 1 -i 0.2 -n -q ${ipB}`,
    "counters before and after (cat /proc/net/snmp; cat /proc/net/netstat; ip -s -j link show)",
    `nsenter --net=${path(t.c)} ip -j route get ${ipB}`,
  ]);
}, 60_000);
