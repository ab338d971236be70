import { existsSync, lstatSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { runCommand } from "../../shared/kernel/run";
import { join } from "node:path";
import { MASQ_TABLE } from "../../agent/masquerade";
import { ROUTE_PROTOCOL } from "../../agent/routes";
import { isRoot, testIf } from "../integration/helpers";
import {
  AGENT_BINARIES,
  API_IP,
  BUN,
  Cluster,
  ClusterNode,
  CNITOOL,
  CONFLIST,
  nodeIP,
  nodeIP6,
  OUTSIDE_IP,
  OUTSIDE_IP6,
  PATCHCORD,
  Pod,
  podCIDR,
  podCIDR6,
  PORTMAP,
  RouteEntry,
  sh,
  sleep,
  waitFor,
} from "./cluster";
import { printFigures, recordFigure } from "./figures";

/**
 * Issue #12 end to end: three nodes (network namespaces on one LAN), each running the real
 * `patchcord agent` against the stand-in API server with in-cluster config; pods added through
 * libcni (cnitool) with the conflist each agent wrote. One cluster for the whole file.
 */
const prerequisites: [boolean, string][] = [
  [isRoot, "root"],
  [existsSync(PATCHCORD), "the built binary (node scripts/build.mjs)"],
  [existsSync(CNITOOL), "dist/cnitool (conformance/cnitool/build.sh)"],
  [existsSync(BUN), "Bun (node_modules/@oven/bun-linux-x64)"],
  [existsSync(PORTMAP), `the reference portmap (${PORTMAP})`],
];
const missing = prerequisites.filter(([ok]) => !ok).map(([, what]) => what);
const it = testIf(missing.length === 0, `the cluster tests need ${missing.join(", ")}`);

const PROTO = String(ROUTE_PROTOCOL);
const RESYNC = 2;
const WHOAMI = 7777;
const HOST_PORT = 8080;

/** A test whose failure message carries every agent's log. */
let cluster: Cluster;
const step = (name: string, fn: () => Promise<void>, timeout = 60_000) =>
  it(
    name,
    async () => {
      try {
        await fn();
      } catch (e) {
        if (e instanceof Error && cluster) e.message += `\n\n${cluster.logs()}`;
        throw e;
      }
    },
    timeout,
  );

/** The routes of ours (proto ROUTE_PROTOCOL) on a node, as "dst via gw" lines, sorted. */
const ours = async (n: ClusterNode): Promise<string[]> =>
  (await n.routes())
    .filter((r) => r.protocol === PROTO)
    .map((r) => `${r.dst} via ${r.gateway}`)
    .sort();
/** What node `n` must route to node `i`: each of its pod CIDRs via its InternalIP of that family. */
const routesTo = (i: number): string[] => [`${podCIDR(i)} via ${nodeIP(i)}`, `${podCIDR6(i)} via ${nodeIP6(i)}`];
const expectedRoutes = (n: ClusterNode, others: number[]): string[] =>
  others
    .filter((i) => i !== n.index)
    .flatMap(routesTo)
    .sort();
const hasRoute = (routes: RouteEntry[], dst: string, via: string) => routes.some((r) => r.dst === dst && r.gateway === via && r.protocol === PROTO);

describe("a three-node cluster on one machine (real agents, stand-in API server)", () => {
  let pods: Pod[] = [];
  const readyMs: number[] = [];

  beforeAll(async () => {
    if (missing.length) return;
    cluster = new Cluster({ nodes: 3, dualStack: true, portmapOn: [3], resync: RESYNC });
    await cluster.createNetwork();
    await cluster.startApi();
    for (const n of cluster.nodes) cluster.startAgent(n);
    for (const n of cluster.nodes) {
      const ms = await cluster.waitReady(n, 30_000);
      if (ms === undefined) throw new Error(`${n.name}: /readyz never answered 200\n${cluster.logs()}`);
      readyMs.push(ms);
    }
    recordFigure("ready", Math.max(...readyMs));
    const own = cluster.nodes.map((n) => Number(/ready after (\d+) ms/.exec(n.agentLog())?.[1] ?? NaN));
    if (own.every(Number.isFinite)) recordFigure("readyOwn", Math.max(...own));
    for (const n of cluster.nodes) {
      if (!(await waitFor(async () => n.conflist(), 10_000))) throw new Error(`${n.name}: no conflist\n${cluster.logs()}`);
    }
    pods = [];
    for (const n of cluster.nodes) pods.push(await cluster.addPod(n));
    await cluster.serveWhoami(cluster.outside, WHOAMI);
    for (const p of pods) await cluster.serveWhoami(p.ns, WHOAMI);
  }, 120_000);

  afterAll(async () => {
    printFigures();
    if (cluster) {
      await cluster.destroy();
      expect(await cluster.leftovers()).toEqual([]);
    }
  }, 60_000);

  step("every agent is Ready (/readyz, /healthz 200), installed the plugins as links of one copy, wrote the conflist", async () => {
    expect(readyMs).toHaveLength(3);
    // eslint-disable-next-line no-console
    console.log(`agent start to Ready: ${readyMs.join(", ")} ms (nodes 1-3)`);
    for (const n of cluster.nodes) {
      expect([n.name, await n.health("readyz"), await n.health("healthz")]).toEqual([n.name, 200, 200]);
      expect(n.agentLog()).toMatch(/ready after \d+ ms/);
      const inodes = new Set(AGENT_BINARIES.map((b) => statSync(join(n.binDir, b)).ino));
      expect([n.name, inodes.size]).toEqual([n.name, 1]);
      const conf = n.conflist() as { name: string; cniVersion: string; plugins: Record<string, unknown>[] };
      expect(conf.name).toBe("patchcord");
      const [main, ...rest] = conf.plugins;
      expect(main).toMatchObject({
        type: "patchcord-veth-routed",
        ipam: { type: "patchcord-host-local", dataDir: n.ipamDir, ranges: [[{ subnet: podCIDR(n.index) }], [{ subnet: podCIDR6(n.index) }]] },
      });
      // The reference portmap is chained where it is in the bin dir (node 3) and only there.
      expect([n.name, rest.map((p) => p.type)]).toEqual([n.name, n.index === 3 ? ["portmap"] : []]);
    }
  });

  step("each node routes every other node's podCIDRs via its InternalIP, with the agent's protocol", async () => {
    for (const n of cluster.nodes) expect([n.name, await ours(n)]).toEqual([n.name, expectedRoutes(n, [1, 2, 3])]);
  });

  step("pods get addresses from their node's podCIDRs and ping pods on the other nodes and back (IPv4)", async () => {
    for (const p of pods) {
      expect(p.ip4).toMatch(new RegExp(`^10\\.244\\.${p.node.index}\\.\\d+$`));
      expect(p.ip6).toMatch(new RegExp(`^fd00:10:244:${p.node.index}::`));
    }
    const [p1, p2, p3] = pods;
    for (const [from, to] of [[p1, p2], [p1, p3], [p2, p1], [p3, p1], [p2, p3], [p3, p2]]) {
      expect([`${from.name}@${from.node.name} -> ${to.ip4}`, await cluster.ping(from.ns, to.ip4!)]).toEqual([`${from.name}@${from.node.name} -> ${to.ip4}`, true]);
    }
  });

  step("dual stack: pods ping6 pods on the other nodes and back", async () => {
    const [p1, p2, p3] = pods;
    for (const [from, to] of [[p1, p2], [p1, p3], [p2, p1], [p3, p1], [p2, p3]]) {
      expect([`${from.name}@${from.node.name} -> ${to.ip6}`, await cluster.ping(from.ns, to.ip6!)]).toEqual([`${from.name}@${from.node.name} -> ${to.ip6}`, true]);
    }
  });

  step("a pod reaches the outside with its node's address; pod to pod keeps the pod's address (both families)", async () => {
    const [p1, p2, p3] = pods;
    expect(await cluster.whoami(p1.ns, OUTSIDE_IP, WHOAMI)).toBe(nodeIP(1));
    expect(await cluster.whoami(p3.ns, OUTSIDE_IP, WHOAMI)).toBe(nodeIP(3));
    expect(await cluster.whoami(p1.ns, OUTSIDE_IP6, WHOAMI)).toBe(nodeIP6(1));
    expect(await cluster.whoami(p1.ns, p2.ip4!, WHOAMI)).toBe(p1.ip4);
    expect(await cluster.whoami(p3.ns, p1.ip4!, WHOAMI)).toBe(p3.ip4);
    expect(await cluster.whoami(p1.ns, p2.ip6!, WHOAMI)).toBe(p1.ip6);
    // A node's own address toward a pod elsewhere is not masqueraded either (node IPs are in the cluster).
    expect(await cluster.whoami(cluster.node(2).ns, p1.ip4!, WHOAMI)).toBe(nodeIP(2));
    for (const n of cluster.nodes) expect([n.name, await n.nftTables()]).toEqual([n.name, expect.arrayContaining([`inet ${MASQ_TABLE}`])]);
  });

  step("the chained reference portmap works: a hostPort on node 3 reaches its pod from outside", async () => {
    const n3 = cluster.node(3);
    const pod = await cluster.addPod(n3, "hp", { CAP_ARGS: JSON.stringify({ portMappings: [{ hostPort: HOST_PORT, containerPort: WHOAMI, protocol: "tcp" }] }) });
    pods.push(pod);
    await cluster.serveWhoami(pod.ns, WHOAMI);
    // DNAT to the pod; the pod sees the outside host's own address (portmap does not masquerade here).
    expect(await cluster.whoami(cluster.outside, nodeIP(3), HOST_PORT)).toBe(OUTSIDE_IP);
    // And the same port on another node is nothing.
    expect(await cluster.whoami(cluster.outside, nodeIP(2), HOST_PORT)).toBeUndefined();
  });

  step("patchcord doctor finds nothing wrong on any node, with each agent's state (its routes to the other nodes) read", async () => {
    for (const n of cluster.nodes) {
      const r = await runCommand([PATCHCORD, "doctor", "--json", "--netns", n.ns, "--conf-dir", n.confDir, "--bin-dir", n.binDir, "--cache-dir", n.cacheDir]);
      const doc = JSON.parse(r.stdout) as { findings: { id: string }[]; notes: string[]; pods: { condition: string }[]; networks: { name: string }[] };
      expect([n.name, r.code, doc.findings.map((f) => f.id), doc.notes]).toEqual([n.name, 0, [], []]);
      expect(doc.networks.map((x) => x.name)).toEqual(["patchcord"]);
      expect(doc.pods.length).toBeGreaterThan(0);
      const state = JSON.parse(readFileSync(join(n.ipamDir, "agent-state.json"), "utf8")) as { node: string; routes: { dst: string; via: string }[] };
      expect([state.node, state.routes.map((x) => `${x.dst} via ${x.via}`).sort()]).toEqual([n.name, expectedRoutes(n, [1, 2, 3])]);
    }
  });

  step("a route deleted by hand comes back within a resync", async () => {
    const n1 = cluster.node(1);
    await sh("ip", "-n", n1.ns, "route", "del", podCIDR(2), "proto", PROTO);
    const t0 = Date.now();
    expect(hasRoute(await n1.routes(), podCIDR(2), nodeIP(2))).toBe(false);
    const back = await waitFor(async () => hasRoute(await n1.routes(), podCIDR(2), nodeIP(2)), RESYNC * 1000 + 3000);
    recordFigure("healedRoute", Date.now() - t0);
    expect(back).toBe(true);
    expect(await cluster.ping(pods[0].ns, pods[1].ip4!)).toBe(true);
  });

  step("a node added to the API gains its routes on every node; deleted, it loses them within one resync", async () => {
    const others = cluster.nodes;
    const t0 = Date.now();
    await cluster.api!.addNode(cluster.nodeObject(4));
    const everywhere = await waitFor(async () => {
      for (const n of others) {
        const r = await n.routes();
        if (!hasRoute(r, podCIDR(4), nodeIP(4)) || !hasRoute(r, podCIDR6(4), nodeIP6(4))) return false;
      }
      return true;
    }, 20_000, 20);
    const added = Date.now() - t0;
    expect(everywhere).toBe(true);
    recordFigure("newNodeRoutes", added);

    const t1 = Date.now();
    await cluster.api!.deleteNode("node-4");
    const gone = await waitFor(async () => {
      for (const n of others) if ((await n.routes()).some((r) => r.dst === podCIDR(4) || r.dst === podCIDR6(4))) return false;
      return true;
    }, RESYNC * 1000 + 1500, 20);
    recordFigure("deletedNodeRoutes", Date.now() - t1);
    expect(gone).toBe(true);
    for (const n of cluster.nodes) expect([n.name, await ours(n)]).toEqual([n.name, expectedRoutes(n, [1, 2, 3])]);
  });

  step("an agent restarted re-syncs without touching working pods: same addresses, ping goes on, conflist untouched, no route flaps", async () => {
    const n1 = cluster.node(1);
    const [p1, p2] = pods;
    const addrs = async (ns: string) => (await sh("ip", "-n", ns, "-br", "addr", "show", "dev", "eth0")).stdout.trim();
    const before = { conflist: statSync(n1.conflistPath()).mtimeMs, routes: await ours(n1), addr: await addrs(p1.ns), all: await n1.routes(), nft: await n1.nftTables() };
    const monitor = cluster.monitorRoutes(n1.ns);
    const ping = cluster.pingAlong(p1.ns, p2.ip4!);
    const back = cluster.pingAlong(p2.ns, p1.ip6!);
    await sleep(500);

    const t0 = Date.now();
    const code = await cluster.stopAgent(n1);
    const stopMs = Date.now() - t0;
    // eslint-disable-next-line no-console
    console.log(`agent on node-1 stopped (SIGTERM) in ${stopMs} ms, exit ${code}`);
    // SIGTERM: the agent leaves everything in place and exits promptly (not killed after 5 s).
    expect(stopMs).toBeLessThan(5000);
    expect(code).toBe(0);
    expect(await ours(n1)).toEqual(before.routes);
    expect(existsSync(n1.conflistPath())).toBe(true);
    await sleep(1000);
    cluster.startAgent(n1);
    expect(await cluster.waitReady(n1)).toBeDefined();
    // Two resyncs of the new agent.
    await sleep(RESYNC * 2000 + 500);

    const pinged = await ping.stop();
    const pinged6 = await back.stop();
    const changes = await monitor.stop();
    expect(pinged.sent).toBeGreaterThan(20);
    expect([pinged.received, pinged6.received]).toEqual([pinged.sent, pinged6.sent]);
    expect(statSync(n1.conflistPath()).mtimeMs).toBe(before.conflist);
    expect(await addrs(p1.ns)).toBe(before.addr);
    expect(await ours(n1)).toEqual(before.routes);
    expect(await n1.routes()).toEqual(before.all);
    expect(await n1.nftTables()).toEqual(before.nft);
    // `ip monitor route` saw nothing happen to the routes of other nodes' pod CIDRs: not deleted, not re-added.
    const podRouteEvents = changes.split("\n").filter((l) => /10\.244\.|fd00:10:244:/.test(l));
    expect(podRouteEvents).toEqual([]);
    expect(n1.agentRuns).toBe(2);
  }, 60_000);

  step("the API server away (paused): pods keep talking, routes stay; back (resumed), a node change propagates", async () => {
    const before = await Promise.all(cluster.nodes.map(ours));
    await cluster.api!.pause();
    const ping = cluster.pingAlong(pods[0].ns, pods[2].ip4!);
    // Several resyncs against a server that is not there.
    await sleep(RESYNC * 3000);
    expect(await cluster.ping(pods[1].ns, pods[0].ip6!)).toBe(true);
    const pinged = await ping.stop();
    expect(pinged.sent).toBeGreaterThan(30);
    expect(pinged.received).toBe(pinged.sent);
    expect(await Promise.all(cluster.nodes.map(ours))).toEqual(before);
    // Alive while the API is away (healthz), whatever readyz says about it.
    for (const n of cluster.nodes) expect([n.name, await n.health("healthz")]).toEqual([n.name, 200]);

    await cluster.api!.resume();
    const t0 = Date.now();
    await cluster.api!.addNode(cluster.nodeObject(5));
    const propagated = await waitFor(async () => {
      for (const n of cluster.nodes) if (!hasRoute(await n.routes(), podCIDR(5), nodeIP(5))) return false;
      return true;
    }, 30_000, 50);
    // eslint-disable-next-line no-console
    console.log(`after the API server came back: node-5's routes everywhere in ${Date.now() - t0} ms`);
    expect(propagated).toBe(true);
    for (const n of cluster.nodes) expect([n.name, await n.health("readyz")]).toEqual([n.name, 200]);
    await cluster.api!.deleteNode("node-5");
    const gone = await waitFor(async () => {
      for (const n of cluster.nodes) if ((await n.routes()).some((r) => r.dst === podCIDR(5))) return false;
      return true;
    }, RESYNC * 1000 + 3000, 50);
    expect(gone).toBe(true);
  }, 90_000);

  const routedEverywhere = (i: number) => async () => {
    for (const n of cluster.nodes) if (!hasRoute(await n.routes(), podCIDR(i), nodeIP(i))) return false;
    return true;
  };
  const goneEverywhere = (i: number) => async () => {
    for (const n of cluster.nodes) if ((await n.routes()).some((r) => r.dst === podCIDR(i) || r.dst === podCIDR6(i))) return false;
    return true;
  };

  step("history compacted while the agents were cut off: back, they relist and see what changed meanwhile", async () => {
    const api = cluster.api!;
    // Cut the watches, change nodes while nobody watches, forget the history: only a new LIST shows node-6.
    await api.pause();
    await api.addNode(cluster.nodeObject(6));
    await api.patchNode("node-2", { metadata: { labels: { "patchcord.test/compacted": "yes" } } });
    await api.compact();
    await api.resume();
    const t0 = Date.now();
    expect(await waitFor(routedEverywhere(6), 30_000, 50)).toBe(true);
    // eslint-disable-next-line no-console
    console.log(`cut off, compacted, back: node-6's routes everywhere in ${Date.now() - t0} ms`);
    for (const n of cluster.nodes) expect([n.name, await n.health("readyz")]).toEqual([n.name, 200]);
    await api.deleteNode("node-6");
    expect(await waitFor(goneEverywhere(6), RESYNC * 1000 + 3000, 50)).toBe(true);
  }, 90_000);

  step("a watch from a compacted resourceVersion (410 Expired) is survived: the agents relist and keep up", async () => {
    const api = cluster.api!;
    // Writes racing compaction, as on a busy cluster whose etcd compacts: the resourceVersion of an
    // agent's LIST is compacted away before its WATCH arrives, which the server answers with an
    // ERROR event, code 410. Every agent relists every resync, so within a few resyncs each one
    // has met a 410 (its log says so).
    const from = cluster.nodes.map((n) => n.agentLog().length);
    const expired = () => cluster.nodes.filter((n, i) => /expired \((410 Gone|HTTP 410)\)/.test(n.agentLog().slice(from[i]))).map((n) => n.name);
    let tick = 0;
    const end = Date.now() + 8 * RESYNC * 1000;
    while (expired().length < cluster.nodes.length && Date.now() < end) {
      const batch: Promise<unknown>[] = [];
      for (let k = 0; k < 20; k++) batch.push(api.patchNode("node-2", { metadata: { labels: { "patchcord.test/tick": String(++tick) } } }), api.compact());
      await Promise.all(batch);
    }
    // eslint-disable-next-line no-console
    console.log(`410: ${tick} writes each followed by a compaction; agents that met a 410: ${expired().join(", ")}`);
    expect(expired()).toEqual(cluster.nodes.map((n) => n.name));
    // After it: Ready, and a change propagates as before.
    const t0 = Date.now();
    await api.addNode(cluster.nodeObject(7));
    expect(await waitFor(routedEverywhere(7), 20_000, 50)).toBe(true);
    // eslint-disable-next-line no-console
    console.log(`after the 410s: node-7's routes everywhere in ${Date.now() - t0} ms`);
    for (const n of cluster.nodes) expect([n.name, await n.health("readyz")]).toEqual([n.name, 200]);
    await api.deleteNode("node-7");
    expect(await waitFor(goneEverywhere(7), RESYNC * 1000 + 3000, 50)).toBe(true);
  }, 90_000);

  step("agent uninstall leaves nothing of ours and removes nothing else", async () => {
    const n3 = cluster.node(3);
    // Foreign things: a plugin of someone else, the portmap link, a route of another protocol, a
    // file in the IPAM dir, another program's nftables table.
    writeFileSync(join(n3.binDir, "someone-elses-plugin"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    writeFileSync(join(n3.confDir, "99-other.conflist"), JSON.stringify({ cniVersion: "1.0.0", name: "other", plugins: [{ type: "someone-elses-plugin" }] }));
    writeFileSync(join(n3.ipamDir, "keep-me"), "x");
    await sh("ip", "-n", n3.ns, "route", "add", "10.99.0.0/24", "via", API_IP, "proto", "static");
    await sh("ip", "netns", "exec", n3.ns, "nft", "add", "table", "inet", "someone_else");
    const foreignRoutes = (await n3.routes()).filter((r) => r.protocol !== PROTO);
    const tablesBefore = await n3.nftTables();
    expect(tablesBefore).toContain(`inet ${MASQ_TABLE}`);
    expect(await ours(n3)).not.toEqual([]);
    expect(readdirSync(n3.ipamDir)).toContain("patchcord");

    await cluster.stopAgent(n3);
    const r = await cluster.uninstall(n3);
    expect([r.code, r.stderr]).toEqual([0, expect.any(String)]);

    expect(existsSync(n3.conflistPath())).toBe(false);
    for (const b of AGENT_BINARIES) expect([b, existsSync(join(n3.binDir, b))]).toEqual([b, false]);
    expect(readdirSync(n3.binDir).sort()).toEqual(["portmap", "someone-elses-plugin"]);
    expect(lstatSync(join(n3.binDir, "portmap")).isSymbolicLink()).toBe(true);
    expect(readdirSync(n3.confDir)).toEqual(["99-other.conflist"]);
    expect(readdirSync(n3.ipamDir)).toEqual(["keep-me"]);
    expect(await ours(n3)).toEqual([]);
    expect((await n3.routes()).filter((x) => x.protocol !== PROTO)).toEqual(foreignRoutes);
    expect(await n3.nftTables()).toEqual(tablesBefore.filter((t) => t !== `inet ${MASQ_TABLE}`));
    // Running it again changes nothing and succeeds.
    expect((await cluster.uninstall(n3)).code).toBe(0);
    expect(readdirSync(n3.binDir).sort()).toEqual(["portmap", "someone-elses-plugin"]);
    // The other nodes are untouched.
    for (const n of [cluster.node(1), cluster.node(2)]) expect([n.name, await ours(n)]).toEqual([n.name, expectedRoutes(n, [1, 2, 3])]);
    expect(CONFLIST).toBe("00-patchcord.conflist");
  });
});
