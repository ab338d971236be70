import { join } from "node:path";
import { Driver } from "./driver";
import { evidence, expectThat, icmpCounters, macOf, matrix, SceneContext, setupStep, wire } from "./scene";

/**
 * The article's topologies, each wired by patchcord's plugins through the cnitool driver inside a
 * throwaway "node" namespace, checked with pings. Addresses: 10.10.x.0/24 and 10.20.x.0/24 for pods,
 * 192.168.50.0/30 for the wire between two nodes, 192.0.2.0/24 (TEST-NET-1) for the "outside".
 */
export interface SceneDef {
  id: string;
  title: string;
  lesson: string;
  run(ctx: SceneContext): Promise<void>;
}

const VERSION = "1.1.0";
const ipam = (ctx: SceneContext, subnet: string) => ({ type: "host-local", dataDir: join(ctx.world.dir, "ipam"), ranges: [[{ subnet }]] });

/** Stand-ins for real NICs: one end of a veth pair each, up with its peer (for carrier). */
async function parentNics(ctx: SceneContext, node: string, names: string[]): Promise<void> {
  for (const m of names) {
    await ctx.world.sh(["ip", "-n", node, "link", "add", m, "type", "veth", "peer", "name", `${m}p`]);
    await ctx.world.sh(["ip", "-n", node, "link", "set", m, "up"]);
    await ctx.world.sh(["ip", "-n", node, "link", "set", `${m}p`, "up"]);
  }
}

/** One network of children on a parent NIC, with its two pods. */
interface ChildNetwork {
  name: string;
  /** The plugin's own keys (master, mode). */
  plugin: Record<string, unknown>;
  subnet: string;
  /** How its pods are labelled, e.g. "bridge mode". */
  label: string;
}

/**
 * A node with a parent NIC per network (its `master`) and two networks of children on them: pods
 * a and b on the first, c and d on the second. Returns the pods' namespaces and their ADD results, in that order.
 */
async function twoChildNetworks(ctx: SceneContext, nodeName: string, podPrefix: string, networks: ChildNetwork[]) {
  const { world, driver } = ctx;
  const node = await world.addNetns(nodeName);
  await parentNics(ctx, node, networks.map((n) => String(n.plugin.master)));
  const pods = [await world.addNetns(`${podPrefix}-a`), await world.addNetns(`${podPrefix}-b`), await world.addNetns(`${podPrefix}-c`), await world.addNetns(`${podPrefix}-d`)];
  for (const n of networks) driver.install(node, { cniVersion: VERSION, name: n.name, plugins: [{ ...n.plugin, ipam: ipam(ctx, n.subnet) }] });
  setupStep(ctx, "a node with two parent NICs (veth ends standing in for real NICs) and four pods");
  const added = [];
  for (const [i, pod] of pods.entries()) {
    const n = networks[i < 2 ? 0 : 1];
    added.push(await wire(ctx, node, n.name, pod, `pod ${"abcd"[i]} (${n.label})`));
  }
  return { node, pods, added };
}

const switchScene: SceneDef = {
  id: "bridge",
  title: "The switch: two pods on one Linux bridge",
  lesson: "Same subnet, one bridge: the pods talk over it. The bridge has no address here, so the node is not on that network.",
  async run(ctx) {
    const { world, driver } = ctx;
    const node = await world.addNetns("switch");
    const [a, b] = [await world.addNetns("sw-a"), await world.addNetns("sw-b")];
    driver.install(node, { cniVersion: VERSION, name: "lab-switch", plugins: [{ type: "bridge", bridge: "br0", ipam: ipam(ctx, "10.10.1.0/24") }] });
    setupStep(ctx, "a node and two pods (network namespaces)");
    const ia = await wire(ctx, node, "lab-switch", a, "pod a");
    const ib = await wire(ctx, node, "lab-switch", b, "pod b");
    const [ipA, ipB] = [Driver.address(ia), Driver.address(ib)];
    await matrix(ctx, "who reaches whom", [
      { from: "pod a", fromNs: a, to: `pod b (${ipB})`, address: ipB, expected: true },
      { from: "pod b", fromNs: b, to: `pod a (${ipA})`, address: ipA, expected: true },
      { from: "pod a", fromNs: a, to: "10.10.1.1 (nobody)", address: "10.10.1.1", expected: false },
    ]);
    const ports = (await world.inNs(node, ["bridge", "link", "show"], { quiet: true })).stdout.trim().split("\n");
    evidence(ctx, "the bridge's ports (bridge link show, in the node)", ports);
    expectThat(ctx, ports.filter((l) => l.includes("master br0")).length === 2, "br0 should have exactly two ports");
  },
};

const routerScene: SceneDef = {
  id: "routed",
  title: "The router: pods behind their own cables, the node routes",
  lesson:
    "Each pod has a /32 on its own veth and a default route via the node; the node forwards (ip_forward) and holds a return route per pod. " +
    "Across two nodes, each needs a route to the other's pod subnet: without the return route the request arrives and the reply is lost.",
  async run(ctx) {
    const { world, driver } = ctx;
    const node = await world.addNetns("router");
    const [a, b] = [await world.addNetns("rt-a"), await world.addNetns("rt-b")];
    driver.install(node, { cniVersion: VERSION, name: "lab-routed", plugins: [{ type: "veth-routed", ipam: ipam(ctx, "10.10.2.0/24") }] });
    setupStep(ctx, "a node and two pods");
    await wire(ctx, node, "lab-routed", a, "pod a");
    const ib = await wire(ctx, node, "lab-routed", b, "pod b");
    const ipB = Driver.address(ib);
    await matrix(ctx, "one node: who reaches whom", [
      { from: "pod a", fromNs: a, to: `pod b (${ipB})`, address: ipB, expected: true },
      { from: "pod a", fromNs: a, to: "the node (10.10.2.1)", address: "10.10.2.1", expected: true },
      { from: "the node", fromNs: node, to: `pod b (${ipB})`, address: ipB, expected: true },
    ]);
    const forward = (await world.inNs(node, ["cat", "/proc/sys/net/ipv4/ip_forward"], { quiet: true })).stdout.trim();
    const routes = (await world.inNs(node, ["ip", "route", "show"], { quiet: true })).stdout.trim().split("\n");
    evidence(ctx, "the node: forwarding and one return route per pod", [`net.ipv4.ip_forward = ${forward}`, ...routes]);
    expectThat(ctx, forward === "1", "ip_forward should be 1 on the node");

    // Two routers: node A and node B on a wire, a pod on each, each node with its own pod subnet.
    const [nodeA, nodeB] = [await world.addNetns("node-a"), await world.addNetns("node-b")];
    const [pa, pb] = [await world.addNetns("na-pod"), await world.addNetns("nb-pod")];
    await world.sh(["ip", "-n", nodeA, "link", "add", "wire", "type", "veth", "peer", "name", "wire", "netns", nodeB]);
    await world.sh(["ip", "-n", nodeA, "addr", "add", "192.168.50.1/30", "dev", "wire"]);
    await world.sh(["ip", "-n", nodeB, "addr", "add", "192.168.50.2/30", "dev", "wire"]);
    await world.sh(["ip", "-n", nodeA, "link", "set", "wire", "up"]);
    await world.sh(["ip", "-n", nodeB, "link", "set", "wire", "up"]);
    await world.sh(["ip", "-n", nodeA, "route", "add", "10.20.2.0/24", "via", "192.168.50.2"]);
    driver.install(nodeA, { cniVersion: VERSION, name: "lab-node-a", plugins: [{ type: "veth-routed", ipam: ipam(ctx, "10.20.1.0/24") }] });
    driver.install(nodeB, { cniVersion: VERSION, name: "lab-node-b", plugins: [{ type: "veth-routed", ipam: ipam(ctx, "10.20.2.0/24") }] });
    setupStep(ctx, "two nodes on a wire; node A routes to node B's pods, node B has no route back yet");
    const ipa = Driver.address(await wire(ctx, nodeA, "lab-node-a", pa, "the pod on node A"));
    const ipb = Driver.address(await wire(ctx, nodeB, "lab-node-b", pb, "the pod on node B"));
    const [beforeA, beforeB] = [await icmpCounters(world, pa), await icmpCounters(world, pb)];
    await matrix(ctx, "two nodes, no return route on node B", [{ from: "pod on A", fromNs: pa, to: `pod on B (${ipb})`, address: ipb, expected: false }]);
    const [afterA, afterB] = [await icmpCounters(world, pa), await icmpCounters(world, pb)];
    const delta = (after: Record<string, number>, before: Record<string, number>, key: string) => (after[key] ?? 0) - (before[key] ?? 0);
    const arrived = delta(afterB, beforeB, "InEchos");
    const answered = delta(afterB, beforeB, "OutEchoReps");
    const back = delta(afterA, beforeA, "InEchoReps");
    evidence(ctx, "ICMP counters (/proc/net/snmp) during that ping", [
      `pod on B: echo requests received +${arrived}, replies sent +${answered}`,
      `pod on A: replies received +${back}`,
      "the reply left pod B and died at node B: it has no route to 10.20.1.0/24",
    ]);
    expectThat(ctx, arrived >= 1 && answered >= 1 && back === 0, `expected the request to arrive and no reply to return (arrived ${arrived}, answered ${answered}, back ${back})`);
    await world.sh(["ip", "-n", nodeB, "route", "add", "10.20.1.0/24", "via", "192.168.50.1"]);
    setupStep(ctx, "the return route on node B");
    await matrix(ctx, "two nodes, routes both ways", [
      { from: "pod on A", fromNs: pa, to: `pod on B (${ipb})`, address: ipb, expected: true },
      { from: "pod on B", fromNs: pb, to: `pod on A (${ipa})`, address: ipa, expected: true },
    ]);
  },
};

const macvlanScene: SceneDef = {
  id: "macvlan",
  title: "macvlan: children of a parent NIC, each with its own MAC",
  lesson: "In bridge mode the children of one parent talk to each other directly; in private mode they cannot. Each child has a MAC of its own.",
  async run(ctx) {
    const { world } = ctx;
    const { node, pods, added } = await twoChildNetworks(ctx, "macvlan", "mv", [
      { name: "lab-mv-bridge", plugin: { type: "macvlan", master: "mst0", mode: "bridge" }, subnet: "10.10.3.0/24", label: "bridge mode" },
      { name: "lab-mv-private", plugin: { type: "macvlan", master: "mst1", mode: "private" }, subnet: "10.10.4.0/24", label: "private mode" },
    ]);
    const [ia, ib, , id] = added;
    await matrix(ctx, "who reaches whom", [
      { from: "pod a", fromNs: pods[0], to: `pod b (${Driver.address(ib)})`, address: Driver.address(ib), expected: true },
      { from: "pod b", fromNs: pods[1], to: `pod a (${Driver.address(ia)})`, address: Driver.address(ia), expected: true },
      { from: "pod c", fromNs: pods[2], to: `pod d (${Driver.address(id)})`, address: Driver.address(id), expected: false },
    ]);
    const macs = [await macOf(world, node, "mst0"), await macOf(world, pods[0], "eth0"), await macOf(world, pods[1], "eth0")];
    evidence(ctx, "MAC addresses", [`parent mst0: ${macs[0]}`, `pod a eth0: ${macs[1]}`, `pod b eth0: ${macs[2]}`]);
    expectThat(ctx, new Set(macs).size === 3, "each macvlan child should have its own MAC, distinct from the parent's");
  },
};

const ipvlanScene: SceneDef = {
  id: "ipvlan",
  title: "ipvlan: children that share the parent's MAC",
  lesson: "ipvlan children differ only by IP: in l2 they share the parent's MAC and talk through it; in l3 there is no ARP, so routes point at the device.",
  async run(ctx) {
    const { world } = ctx;
    const { node, pods, added } = await twoChildNetworks(ctx, "ipvlan", "iv", [
      { name: "lab-iv-l2", plugin: { type: "ipvlan", master: "ivm0", mode: "l2" }, subnet: "10.10.6.0/24", label: "l2" },
      { name: "lab-iv-l3", plugin: { type: "ipvlan", master: "ivm1", mode: "l3" }, subnet: "10.10.7.0/24", label: "l3" },
    ]);
    const [, ib, , id] = added;
    await matrix(ctx, "who reaches whom", [
      { from: "pod a", fromNs: pods[0], to: `pod b (${Driver.address(ib)})`, address: Driver.address(ib), expected: true },
      { from: "pod c", fromNs: pods[2], to: `pod d (${Driver.address(id)})`, address: Driver.address(id), expected: true },
    ]);
    const macs = [await macOf(world, node, "ivm0"), await macOf(world, pods[0], "eth0"), await macOf(world, pods[1], "eth0")];
    const l3Routes = (await world.inNs(pods[2], ["ip", "route", "show"], { quiet: true })).stdout.trim().split("\n");
    evidence(ctx, "MAC addresses (l2) and pod c's routes (l3)", [`parent ivm0: ${macs[0]}`, `pod a eth0: ${macs[1]}`, `pod b eth0: ${macs[2]}`, ...l3Routes.map((r) => `pod c: ${r}`)]);
    expectThat(ctx, new Set(macs).size === 1, "ipvlan children should share the parent's MAC");
    expectThat(ctx, l3Routes.some((r) => /^default dev eth0/.test(r)), "in l3 the default route should point at the device");
  },
};

const natScene: SceneDef = {
  id: "nat",
  title: "NAT: a pod reaches the outside behind the node's address (ipMasq)",
  lesson:
    "The outside knows nothing of the pod subnet. With ipMasq the node rewrites the pod's source to its own address, so replies find their way back; without it they cannot.",
  async run(ctx) {
    const { world, driver } = ctx;
    const node = await world.addNetns("nat");
    const outside = await world.addNetns("outside");
    const [a, b] = [await world.addNetns("nat-a"), await world.addNetns("nat-b")];
    await world.sh(["ip", "-n", node, "link", "add", "uplink", "type", "veth", "peer", "name", "uplink", "netns", outside]);
    await world.sh(["ip", "-n", node, "addr", "add", "192.0.2.1/24", "dev", "uplink"]);
    await world.sh(["ip", "-n", outside, "addr", "add", "192.0.2.2/24", "dev", "uplink"]);
    await world.sh(["ip", "-n", node, "link", "set", "uplink", "up"]);
    await world.sh(["ip", "-n", outside, "link", "set", "uplink", "up"]);
    const counters = [
      "table ip lab {",
      "  chain input { type filter hook input priority 0; policy accept;",
      "    ip saddr 10.10.5.0/24 counter comment \"from the masqueraded pod subnet\"",
      "    ip saddr 10.10.8.0/24 counter comment \"from the plain pod subnet\"",
      "    ip saddr 192.0.2.1 counter comment \"from the node\"",
      "  }",
      "}",
      "",
    ].join("\n");
    await world.sh(["ip", "netns", "exec", outside, "nft", "-f", "-"], { input: counters });
    const gateway = { isGateway: true, isDefaultGateway: true };
    driver.install(node, { cniVersion: VERSION, name: "lab-masq", plugins: [{ type: "bridge", bridge: "br0", ...gateway, ipMasq: true, ipam: ipam(ctx, "10.10.5.0/24") }] });
    driver.install(node, { cniVersion: VERSION, name: "lab-plain", plugins: [{ type: "bridge", bridge: "br1", ...gateway, ipam: ipam(ctx, "10.10.8.0/24") }] });
    setupStep(ctx, "a node with an uplink to the outside (192.0.2.2), packet counters there, two pods");
    await wire(ctx, node, "lab-masq", a, "pod a (ipMasq)");
    await wire(ctx, node, "lab-plain", b, "pod b (no ipMasq)");
    await matrix(ctx, "pods to the outside", [
      { from: "pod a (ipMasq)", fromNs: a, to: "outside (192.0.2.2)", address: "192.0.2.2", expected: true },
      { from: "pod b (no ipMasq)", fromNs: b, to: "outside (192.0.2.2)", address: "192.0.2.2", expected: false },
    ]);
    const listed = (await world.inNs(outside, ["nft", "list", "chain", "ip", "lab", "input"], { quiet: true })).stdout;
    const packets = (comment: string) => Number(new RegExp(`packets (\\d+) bytes \\d+ comment "${comment}"`).exec(listed)?.[1] ?? -1);
    const [fromMasq, fromPlain, fromNode] = [packets("from the masqueraded pod subnet"), packets("from the plain pod subnet"), packets("from the node")];
    evidence(ctx, "what the outside saw (nft counters there)", [
      `packets from 10.10.5.0/24 (pod a's own subnet): ${fromMasq}`,
      `packets from 192.0.2.1 (the node): ${fromNode}   <- pod a's ping, source rewritten`,
      `packets from 10.10.8.0/24 (pod b, not masqueraded): ${fromPlain}   <- arrived, but the reply has no route back`,
    ]);
    expectThat(ctx, fromMasq === 0 && fromNode >= 1 && fromPlain >= 1, `expected the outside to see pod a only as the node and pod b as itself (${fromMasq}/${fromNode}/${fromPlain})`);
  },
};

export const SCENES: SceneDef[] = [switchScene, routerScene, macvlanScene, ipvlanScene, natScene];
