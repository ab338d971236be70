import { rmSync } from "node:fs";
import { join } from "node:path";
import { renderConflist } from "../../agent/conflist";
import { agentStatePath, writeAgentState } from "../../agent/state-file";
import { ROUTE_PROTOCOL } from "../../agent/routes";
import { Driver } from "../../lab/driver";
import { World } from "../../lab/world";
import { runCommand } from "../../shared/kernel/run";
import { BIN, CNITOOL, haveBinaries, isRoot, testIf } from "./helpers";
import { ids, runDoctor } from "./doctor-lab";
import { reaches } from "../../lab/scene";

// Two nodes of a cluster as the node agent leaves them: its conflist (veth-routed), its state file
// (what doctor compares with), its routes to the other node's podCIDR (protocol 151). The nodes
// are joined by two wires and route asymmetrically (A sends to B's pods over wire1, B answers over
// wire2), which is healthy until strict reverse-path filtering meets it. The agent's reconcile
// loop itself is tested elsewhere (agent/, test/cluster); here its state is written with its own
// writer, as it would be.
const it = testIf(isRoot && haveBinaries, "needs root and the built binaries (npm run build)");
jest.setTimeout(60_000);

// Made in beforeAll: a World makes its scratch directory at once, and a skipped file must not.
let world: World;
const NODES = {
  a: { podCIDR: "10.30.1.0/24", out: "wire1", via: "192.168.60.2" },
  b: { podCIDR: "10.30.2.0/24", out: "wire2", via: "192.168.61.1" },
} as const;
let podB = "";

const ns = (n: string) => world.ns(n);
const dataDir = (node: string) => join(world.dir, ns(node), "ipam");
const args = (node: string) => {
  const dir = join(world.dir, ns(node));
  return ["--netns", ns(node), "--conf-dir", join(dir, "net.d"), "--bin-dir", BIN, "--cache-dir", join(dir, "cache")];
};
const inNs = async (node: string, ...argv: string[]) => {
  const r = await runCommand(["ip", "netns", "exec", ns(node), ...argv]);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
};

beforeAll(async () => {
  if (!(isRoot && haveBinaries)) return;
  world = new World(`da${process.pid.toString(36)}`);
  const driver = new Driver(world, CNITOOL, [BIN]);
  const [a, b] = [await world.addNetns("node-a"), await world.addNetns("node-b")];
  for (const [wire, prefix] of [["wire1", "192.168.60"], ["wire2", "192.168.61"]]) {
    await world.sh(["ip", "-n", a, "link", "add", wire, "type", "veth", "peer", "name", wire, "netns", b]);
    await world.sh(["ip", "-n", a, "addr", "add", `${prefix}.1/30`, "dev", wire]);
    await world.sh(["ip", "-n", b, "addr", "add", `${prefix}.2/30`, "dev", wire]);
    for (const n of [a, b]) await world.sh(["ip", "-n", n, "link", "set", wire, "up"]);
  }
  for (const [me, other] of [["a", "b"], ["b", "a"]] as const) {
    const node = `node-${me}`;
    const list = JSON.parse(renderConflist({ mode: "veth-routed", mtu: 0, podCIDRs: [NODES[me].podCIDR], dataDir: dataDir(node), portmap: false }));
    driver.install(ns(node), list);
    const route = { node: `node-${other}`, dst: NODES[other].podCIDR, via: NODES[me].via };
    writeAgentState(dataDir(node), { node, podCIDRs: [NODES[me].podCIDR], routes: [route] }, () => {});
    await world.sh(["ip", "-n", ns(node), "route", "add", route.dst, "via", route.via, "proto", String(ROUTE_PROTOCOL)]);
    await world.addNetns(`pod-${me}`);
  }
  await driver.add(ns("node-a"), "patchcord", ns("pod-a"));
  podB = Driver.address(await driver.add(ns("node-b"), "patchcord", ns("pod-b")));
});
afterAll(() => world?.teardown());

async function healthy(): Promise<void> {
  for (const node of ["node-a", "node-b"]) {
    const r = await runDoctor(args(node));
    expect({ node, ids: ids(r), code: r.code, notes: r.doc.notes }).toEqual({ node, ids: [], code: 0, notes: [] });
  }
  expect(await reaches(world, ns("pod-a"), podB)).toBe(true);
}

it("is silent on the healthy cluster (asymmetric routes, loose rp_filter)", healthy);

it("node-route-missing: the route to the other node's podCIDR deleted", async () => {
  await inNs("node-a", "ip", "route", "del", NODES.b.podCIDR);
  const r = await runDoctor(args("node-a"));
  expect({ ids: ids(r), code: r.code }).toEqual({ ids: ["node-route-missing"], code: 1 });
  expect(r.findings[0].message).toContain(`node node-b's pods (${NODES.b.podCIDR}) have no route here`);
  expect(r.findings[0].fix[0]).toBe(`nsenter --net=/run/netns/${ns("node-a")} ip route replace ${NODES.b.podCIDR} via ${NODES.a.via} proto 151`);
  await runCommand(["sh", "-c", r.findings[0].fix[0]]);
  await healthy();
});

it("node-route-missing: a route to the podCIDR through another gateway than the agent's", async () => {
  await inNs("node-a", "ip", "route", "replace", NODES.b.podCIDR, "via", "192.168.61.2", "proto", String(ROUTE_PROTOCOL));
  const r = await runDoctor(args("node-a"));
  expect(ids(r)).toEqual(["node-route-missing"]);
  expect(r.findings[0].message).toContain("via 192.168.61.2");
  await inNs("node-a", "ip", "route", "replace", NODES.b.podCIDR, "via", NODES.a.via, "proto", String(ROUTE_PROTOCOL));
  await healthy();
});

it.each([["net.ipv4.conf.wire2.rp_filter"], ["net.ipv4.conf.all.rp_filter"]])("rp-filter-strict: %s=1 on node A, where B's pods arrive by wire2 but their route leaves by wire1", async (key) => {
  await inNs("node-a", "sysctl", "-w", `${key}=1`);
  try {
    expect(await reaches(world, ns("pod-a"), podB)).toBe(false); // the break is real: B's replies are dropped at A
    const r = await runDoctor(args("node-a"));
    expect({ ids: ids(r), code: r.code }).toEqual({ ids: ["rp-filter-strict"], code: 1 });
    expect(r.findings).toHaveLength(1);
    expect(r.findings[0].message).toContain(`strict rp_filter on wire2 drops packets from ${NODES.b.podCIDR}`);
    const other = await runDoctor(args("node-b"));
    expect(ids(other)).toEqual([]);
    for (const line of r.findings[0].fix) await runCommand(["sh", "-c", line]);
  } finally {
    await inNs("node-a", "sysctl", "-w", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.wire2.rp_filter=0");
  }
  await healthy();
});

it("without the agent's state file, the routes are not checked, and it says so", async () => {
  rmSync(agentStatePath(dataDir("node-a")));
  const r = await runDoctor(args("node-a"));
  expect({ ids: ids(r), code: r.code }).toEqual({ ids: [], code: 0 });
  expect(r.doc.notes).toEqual([expect.stringMatching(/agent's state is not readable.*agent-state\.json does not exist/)]);
});
