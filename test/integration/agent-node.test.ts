import { spawn } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { installedNames, installPlugins } from "../../agent/install";
import { CONFLIST_NAME, renderConflist, writeConflist } from "../../agent/conflist";
import { nftRuleset, planMasquerade } from "../../agent/masquerade";
import { ROUTE_PROTOCOL } from "../../agent/routes";
import { runCommand } from "../../shared/kernel/run";
import { findExecutable } from "../../shared/kernel/which";
import { BIN, isRoot, ROOT, runId, testIf } from "./helpers";
import { NetLab } from "./netlab";

/**
 * The agent's node functions against a real kernel, each in throwaway namespaces: the functions
 * run through agent-node-driver.ts under `ip netns exec`, so they see only the lab's links,
 * routes and netfilter tables, exactly as the agent sees the node's.
 */
const BUN = join(ROOT, "node_modules/@oven/bun-linux-x64/bin/bun");
const DRIVER = join(__dirname, "agent-node-driver.ts");
const PATCHCORD = join(BIN, "patchcord");
/** By full path: commands the test runs itself must not show up in a recording (below). */
const IP = findExecutable("ip") ?? "ip";
const canRun = isRoot && existsSync(BUN) && existsSync(PATCHCORD);
const it = testIf(canRun, "needs root, Bun (npm ci) and dist/bin/patchcord (npm run build)");

interface Outcome {
  result?: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  logs: string[];
  error?: string;
}

async function sh(...argv: string[]): Promise<string> {
  const r = await runCommand(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** Runs agent functions in namespace `ns`, in one process; fails on a call that threw. */
async function agentIn(ns: string, ...calls: { fn: string; args?: unknown }[]): Promise<Outcome[]> {
  const r = await runCommand([IP, "netns", "exec", ns, BUN, DRIVER, JSON.stringify(calls)], "", { ...process.env, PATH: recordPath ?? process.env.PATH });
  if (r.code !== 0) throw new Error(`driver: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as Outcome[];
  const failed = out.find((o) => o.error);
  if (failed) throw new Error(failed.error);
  return out;
}

async function veth(nsA: string, a: string, nsB: string, b: string, opts: { mtu?: number } = {}): Promise<void> {
  await sh("ip", "-n", nsA, "link", "add", a, ...(opts.mtu ? ["mtu", String(opts.mtu)] : []), "type", "veth", "peer", "name", b, "netns", nsB, ...(opts.mtu ? ["mtu", String(opts.mtu)] : []));
  await sh("ip", "-n", nsA, "link", "set", a, "up");
  await sh("ip", "-n", nsB, "link", "set", b, "up");
}

const addr = (ns: string, dev: string, cidr: string) => sh("ip", "-n", ns, "addr", "add", cidr, "dev", dev, ...(cidr.includes(":") ? ["nodad"] : []));
const routesOf = async (ns: string, family: "-4" | "-6", ...filter: string[]) => JSON.parse((await sh("ip", "-n", ns, "-N", "-j", family, "route", "show", ...filter)) || "[]") as { dst: string; gateway?: string; protocol?: string }[];

/**
 * Runs `fn` with `tools` on PATH replaced by wrappers that record each command line, and returns
 * them (tool name and arguments); the agent finds executables on PATH first.
 */
let recordPath: string | undefined;
async function recording(tools: string[], fn: () => Promise<unknown>): Promise<string[]> {
  const dir = tempDir("record");
  try {
    for (const t of tools) {
      const real = (await sh("sh", "-c", `command -v ${t}`)).trim();
      writeFileSync(join(dir, t), `#!/bin/sh\necho "${t} $*" >> ${dir}/calls\nexec ${real} "$@"\n`);
      chmodSync(join(dir, t), 0o755);
    }
    recordPath = `${dir}:${process.env.PATH}`;
    await fn();
    return existsSync(join(dir, "calls")) ? readFileSync(join(dir, "calls"), "utf8").trim().split("\n") : [];
  } finally {
    recordPath = undefined;
    rmSync(dir, { recursive: true, force: true });
  }
}

function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `pc-agent-${tag}-`));
}

describe("routes to other nodes' pod CIDRs", () => {
  const lab = new NetLab(runId());
  let node: string;
  let peer: string;
  const b4 = { node: "worker-b", dst: "10.244.2.0/24", via: "192.168.90.2" };
  const b6 = { node: "worker-b", dst: "fd00:10:244:2::/64", via: "fd00:90::2" };
  const far = { node: "far-away", dst: "10.244.3.0/24", via: "192.168.91.5" };
  const taken = { node: "worker-c", dst: "10.244.4.0/24", via: "192.168.90.3" };

  beforeAll(async () => {
    if (!canRun) return;
    await lab.create();
    node = lab.node;
    peer = await lab.addPod("peer").then(() => `${lab.prefix}peer`);
    await veth(node, "up0", peer, "eth0");
    await addr(node, "up0", "192.168.90.1/24");
    await addr(node, "up0", "fd00:90::1/64");
    await addr(peer, "eth0", "192.168.90.2/24");
    // Another network behind the peer: nodes there are not on a directly connected network.
    await sh("ip", "-n", node, "route", "add", "192.168.91.0/24", "via", "192.168.90.2");
    // Someone else's route to a pod CIDR (proto boot, the default).
    await sh("ip", "-n", node, "route", "add", "10.244.4.0/24", "via", "192.168.90.9");
  });
  afterAll(() => lab.destroy());

  it("adds on-link routes tagged with our protocol, skips and reports off-link and foreign ones, once", async () => {
    const [first, second] = await agentIn(node, { fn: "syncRoutes", args: { desired: [b4, b6, far, taken] } }, { fn: "syncRoutes", args: { desired: [b4, b6, far, taken] } });
    expect(first.result).toEqual({ added: 2, replaced: 0, removed: 0, offLink: [far] });
    expect(first.logs).toEqual(
      expect.arrayContaining([
        "route 10.244.2.0/24 via 192.168.90.2 added: node worker-b's pod CIDR",
        "route fd00:10:244:2::/64 via fd00:90::2 added: node worker-b's pod CIDR",
        "node far-away (192.168.91.5) is not on a directly connected network: route 10.244.3.0/24 to it yourself",
        expect.stringMatching(/^someone else routes 10\.244\.4\.0\/24 \(proto boot via 192\.168\.90\.9 dev up0\): leaving it/),
      ]),
    );
    expect(first.logs).toHaveLength(4);
    // The same sync again: nothing done, nothing logged.
    expect(second.result).toEqual({ added: 0, replaced: 0, removed: 0, offLink: [far] });
    expect(second.logs).toEqual([]);
    expect(await routesOf(node, "-4", "proto", String(ROUTE_PROTOCOL))).toEqual([expect.objectContaining({ dst: "10.244.2.0/24", gateway: "192.168.90.2" })]);
    expect(await routesOf(node, "-6", "proto", String(ROUTE_PROTOCOL))).toEqual([expect.objectContaining({ dst: "fd00:10:244:2::/64", gateway: "fd00:90::2" })]);
    const foreign = await routesOf(node, "-4", "exact", "10.244.4.0/24");
    expect(foreign).toEqual([expect.objectContaining({ gateway: "192.168.90.9" })]);
    expect(foreign[0].protocol).toBeUndefined();
  });

  it("an unchanged sync runs no write: only the two listings", async () => {
    const calls = await recording(["ip"], () => agentIn(node, { fn: "syncRoutes", args: { desired: [b4, b6, far, taken] } }));
    // Two listings, then reads for the routes it could not add last time (one off-link, one taken).
    expect(calls).toEqual([
      `ip -N -j -4 route show table main proto ${ROUTE_PROTOCOL}`,
      `ip -N -j -6 route show table main proto ${ROUTE_PROTOCOL}`,
      "ip -N -j -4 route get 192.168.91.5",
      "ip -N -j -4 route get 192.168.90.3",
      "ip -N -j -4 route show table main exact 10.244.4.0/24",
    ]);
  });

  it("a route deleted by hand comes back; a moved node is repointed; a gone node's route is removed", async () => {
    await sh("ip", "-n", node, "route", "del", "10.244.2.0/24");
    const [back] = await agentIn(node, { fn: "syncRoutes", args: { desired: [b4, b6] } });
    expect(back.result).toEqual({ added: 1, replaced: 0, removed: 0, offLink: [] });
    const [moved] = await agentIn(node, { fn: "syncRoutes", args: { desired: [{ ...b4, via: "192.168.90.4" }, b6] } });
    expect(moved.result).toMatchObject({ added: 0, replaced: 1, removed: 0 });
    expect(moved.logs).toEqual(["route 10.244.2.0/24 via 192.168.90.4 replaced the one via 192.168.90.2: node worker-b's address changed"]);
    const [gone] = await agentIn(node, { fn: "syncRoutes", args: { desired: [b6] } });
    expect(gone.result).toMatchObject({ added: 0, replaced: 0, removed: 1 });
    expect(await routesOf(node, "-4", "proto", String(ROUTE_PROTOCOL))).toEqual([]);
    expect(await routesOf(node, "-4", "exact", "10.244.4.0/24")).toHaveLength(1);
  });

  it("a node that moves off-link loses its route", async () => {
    await agentIn(node, { fn: "syncRoutes", args: { desired: [b4] } });
    const [off] = await agentIn(node, { fn: "syncRoutes", args: { desired: [{ ...b4, via: "192.168.91.7" }] } });
    expect(off.result).toMatchObject({ added: 0, removed: 1, offLink: [{ ...b4, via: "192.168.91.7" }] });
    expect(await routesOf(node, "-4", "proto", String(ROUTE_PROTOCOL))).toEqual([]);
  });

  it("removeAllRoutes removes ours in both families and nothing else", async () => {
    await agentIn(node, { fn: "syncRoutes", args: { desired: [b4, b6] } });
    const before4 = await routesOf(node, "-4");
    const [r] = await agentIn(node, { fn: "removeAllRoutes" });
    expect(r.result).toBe(2);
    expect(await routesOf(node, "-4")).toEqual(before4.filter((x) => x.protocol !== String(ROUTE_PROTOCOL)));
    expect(await routesOf(node, "-6", "proto", String(ROUTE_PROTOCOL))).toEqual([]);
    expect(await routesOf(node, "-4", "exact", "10.244.4.0/24")).toHaveLength(1);
    expect(await routesOf(node, "-4", "exact", "192.168.91.0/24")).toHaveLength(1);
  });
});

describe("uplink MTU", () => {
  const lab = new NetLab(runId());
  beforeAll(async () => {
    if (!canRun) return;
    await lab.create();
    await lab.addPod("far");
    await veth(lab.node, "up0", `${lab.prefix}far`, "eth0", { mtu: 1400 });
    await addr(lab.node, "up0", "192.168.90.1/24");
  });
  afterAll(() => lab.destroy());

  it("is the MTU of the link with the node's address, else the default route's link, else 1500", async () => {
    const [none] = await agentIn(lab.node, { fn: "uplinkMtu", args: { ips: ["10.1.1.1"] } });
    expect(none.result).toBe(1500);
    await sh("ip", "-n", lab.node, "route", "add", "default", "via", "192.168.90.2");
    const [byIP, byRoute] = await agentIn(lab.node, { fn: "uplinkMtu", args: { ips: ["nonsense", "192.168.90.1"] } }, { fn: "uplinkMtu", args: { ips: [] } });
    expect(byIP.result).toBe(1400);
    expect(byRoute.result).toBe(1400);
    await sh("ip", "-n", lab.node, "link", "set", "lo", "mtu", "9000");
    await sh("ip", "-n", lab.node, "addr", "add", "10.1.1.1/32", "dev", "lo");
    const [onLo] = await agentIn(lab.node, { fn: "uplinkMtu", args: { ips: ["10.1.1.1"] } });
    expect(onLo.result).toBe(9000);
  });
});

/**
 * A node with a pod (10.244.1.2), another node's pod reached through it (10.244.2.2), another
 * node (198.51.100.2) and an "outside" host (203.0.113.100) that has no route back to any pod.
 * Each peer counts what arrives by source address, so we see what the node sent.
 */
describe.each(["nftables", "iptables"] as const)("masquerade (%s)", (backend) => {
  const lab = new NetLab(runId());
  const ns = (n: string) => `${lab.prefix}${n}`;
  const spec = {
    podCIDRs: ["10.244.1.0/24", "fd00:10:244:1::/64"],
    clusterCIDRs: ["10.244.0.0/16", "fd00:10:244::/56"],
    nodeIPs: ["203.0.113.1", "198.51.100.2"],
    backend,
  };

  beforeAll(async () => {
    if (!canRun) return;
    await lab.create();
    for (const p of ["pod", "out", "pod2", "node2"]) await lab.addPod(p);
    await lab.inNode("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1");
    const wire = async (peer: string, nodeSide: string, nodeAddrs: string[], peerAddrs: string[], gw?: string[]) => {
      await veth(lab.node, nodeSide, ns(peer), "eth0");
      for (const a of nodeAddrs) await addr(lab.node, nodeSide, a);
      for (const a of peerAddrs) await addr(ns(peer), "eth0", a);
      for (const g of gw ?? []) await sh("ip", "-n", ns(peer), g.includes(":") ? "-6" : "-4", "route", "add", "default", "via", g);
    };
    await wire("pod", "p-pod", ["10.244.1.1/24", "fd00:10:244:1::1/64"], ["10.244.1.2/24", "fd00:10:244:1::2/64"], ["10.244.1.1", "fd00:10:244:1::1"]);
    await wire("out", "p-out", ["203.0.113.1/24", "2001:db8:1::1/64"], ["203.0.113.100/24", "2001:db8:1::100/64"]);
    await wire("pod2", "p-pod2", ["10.244.2.1/24"], ["10.244.2.2/24"], ["10.244.2.1"]);
    await wire("node2", "p-node2", ["198.51.100.1/24"], ["198.51.100.2/24"], ["198.51.100.1"]);
    for (const p of ["out", "pod2", "node2"]) {
      await runCommand(["ip", "netns", "exec", ns(p), "nft", "-f", "-"], [
        "table inet seen {",
        "  counter pod {}",
        "  counter node {}",
        "  chain input { type filter hook input priority 0; policy accept;",
        // Echo requests only: neighbour discovery also comes from the node's address.
        "    ip saddr 10.244.1.2 icmp type echo-request counter name pod",
        "    ip6 saddr fd00:10:244:1::2 icmpv6 type echo-request counter name pod",
        "    ip saddr { 203.0.113.1, 10.244.2.1, 198.51.100.1 } icmp type echo-request counter name node",
        "    ip6 saddr 2001:db8:1::1 icmpv6 type echo-request counter name node",
        "  }",
        "}",
        "",
      ].join("\n"));
    }
    // Someone else's NAT in the node: must survive everything we do.
    await lab.inNode("nft", "add", "table", "ip", "theirs");
    await lab.inNode("nft", "add", "chain", "ip", "theirs", "post", "{ type nat hook postrouting priority 50; }");
    await lab.inNode("nft", "add", "rule", "ip", "theirs", "post", "ip saddr 192.0.2.0/24 masquerade");
  });
  afterAll(() => lab.destroy());

  const seen = async (peer: string): Promise<{ pod: number; node: number }> => {
    const read = async (name: string) => {
      const r = JSON.parse(await sh("ip", "netns", "exec", ns(peer), "nft", "-j", "list", "counter", "inet", "seen", name));
      return r.nftables.find((o: { counter?: { packets: number } }) => o.counter).counter.packets as number;
    };
    return { pod: await read("pod"), node: await read("node") };
  };
  const reset = (peer: string) => sh("ip", "netns", "exec", ns(peer), "nft", "reset", "counters", "table", "inet", "seen");
  const ping = (to: string) => lab.ping(ns("pod"), to);
  const theirs = () => lab.inNode("nft", "list", "table", "ip", "theirs").then((r) => r.stdout);

  it("without it, the outside cannot answer a pod", async () => {
    expect(await ping("203.0.113.100")).toBe(false);
  });

  it("pod to outside leaves with the node's address, both families; pod to pod and pod to node keep the pod's", async () => {
    const before = await theirs();
    const [sync, again] = await agentIn(lab.node, { fn: "syncMasquerade", args: { spec } }, { fn: "syncMasquerade", args: { spec } });
    expect(sync.result).toBe(true);
    expect(sync.logs.join("\n")).toMatch(backend === "nftables" ? /created nftables table inet patchcord_agent/ : /created iptables nat chain PATCHCORD-AGENT-MASQ/);
    expect(again).toEqual({ result: false, logs: [] });
    // A new process (a restarted agent) with nothing to change only reads.
    const calls = await recording(["nft", "iptables", "ip6tables", "iptables-restore", "ip6tables-restore"], () => agentIn(lab.node, { fn: "syncMasquerade", args: { spec } }));
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.filter((c) => / -f |restore/.test(c))).toEqual([]);

    for (const p of ["out", "pod2", "node2"]) await reset(p);
    expect(await ping("203.0.113.100")).toBe(true);
    expect(await seen("out")).toEqual({ pod: 0, node: 1 });
    expect(await ping("2001:db8:1::100")).toBe(true);
    expect(await seen("out")).toEqual({ pod: 0, node: 2 });
    expect(await ping("10.244.2.2")).toBe(true);
    expect(await seen("pod2")).toEqual({ pod: 1, node: 0 });
    expect(await ping("198.51.100.2")).toBe(true);
    expect(await seen("node2")).toEqual({ pod: 1, node: 0 });
    expect(await theirs()).toBe(before);
  });

  it("a changed spec rewrites it; damage by hand is repaired on the next sync", async () => {
    const [changed] = await agentIn(lab.node, { fn: "syncMasquerade", args: { spec: { ...spec, nodeIPs: ["203.0.113.1"] } } });
    expect(changed.result).toBe(true);
    await reset("node2");
    expect(await ping("198.51.100.2")).toBe(true);
    expect(await seen("node2")).toEqual({ pod: 0, node: 1 });
    if (backend === "nftables") await lab.inNode("nft", "flush", "chain", "inet", "patchcord_agent", "postrouting");
    else await lab.inNode("iptables", "-w", "-t", "nat", "-F", "PATCHCORD-AGENT-MASQ");
    expect(await ping("203.0.113.100")).toBe(false);
    const [repaired] = await agentIn(lab.node, { fn: "syncMasquerade", args: { spec } });
    expect(repaired.result).toBe(true);
    expect(repaired.logs.join("\n")).toMatch(/rewrote/);
    expect(await ping("203.0.113.100")).toBe(true);
  });

  it("removing (or syncing undefined) leaves nothing of ours and everything of theirs", async () => {
    const before = await theirs();
    const [off, again] = await agentIn(lab.node, { fn: "syncMasquerade", args: { spec: undefined } }, { fn: "removeMasquerade" });
    expect(off.result).toBe(true);
    expect(again.result).toBe(false);
    expect(await ping("203.0.113.100")).toBe(false);
    expect((await lab.inNode("nft", "list", "table", "inet", "patchcord_agent")).code).not.toBe(0);
    expect((await lab.inNode("iptables", "-w", "-t", "nat", "-S")).stdout).not.toMatch(/PATCHCORD/);
    expect((await lab.inNode("ip6tables", "-w", "-t", "nat", "-S")).stdout).not.toMatch(/PATCHCORD/);
    expect(await theirs()).toBe(before);
  });

  it("switching backend removes the other backend's table or chain", async () => {
    const other = backend === "nftables" ? "iptables" : "nftables";
    await agentIn(lab.node, { fn: "syncMasquerade", args: { spec: { ...spec, backend: other } } });
    const [switched] = await agentIn(lab.node, { fn: "syncMasquerade", args: { spec } });
    expect(switched.logs.join("\n")).toMatch(/^removed .* \(now using /m);
    if (backend === "nftables") expect((await lab.inNode("iptables", "-w", "-t", "nat", "-S")).stdout).not.toMatch(/PATCHCORD/);
    else expect((await lab.inNode("nft", "list", "table", "inet", "patchcord_agent")).code).not.toBe(0);
    expect(await ping("203.0.113.100")).toBe(true);
    await agentIn(lab.node, { fn: "removeMasquerade" });
  });
});

describe("installing the real binary, its conflist, and uninstalling", () => {
  const lab = new NetLab(runId());
  let dir: string;
  let bin: string;
  let conf: string;
  let ipam: string;
  let source: string;

  beforeAll(async () => {
    if (!canRun) return;
    dir = tempDir("install");
    bin = join(dir, "bin");
    conf = join(dir, "net.d");
    ipam = join(dir, "ipam");
    mkdirSync(conf);
    // Our own copy: other engineers may rebuild dist/bin/patchcord meanwhile.
    source = join(dir, "patchcord");
    copyFileSync(PATCHCORD, source);
    await lab.create();
  });
  afterAll(async () => {
    await lab.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const version = (name: string) => runCommand([join(bin, name)], "", { CNI_COMMAND: "VERSION", PATH: process.env.PATH });

  it("installs once, then changes nothing; each name answers as its plugin", async () => {
    const lines: string[] = [];
    expect((await installPlugins({ source, binDir: bin, log: (l) => lines.push(l) })).changed).toEqual(installedNames());
    const before = installedNames().map((n) => statSync(join(bin, n)));
    expect(new Set(before.map((s) => s.ino)).size).toBe(1);
    expect((await installPlugins({ source, binDir: bin, log: (l) => lines.push(l) })).changed).toEqual([]);
    const after = installedNames().map((n) => statSync(join(bin, n)));
    expect(after.map((s) => [s.ino, s.mtimeMs])).toEqual(before.map((s) => [s.ino, s.mtimeMs]));
    for (const n of installedNames()) expect(JSON.parse((await version(n)).stdout).supportedVersions).toContain("1.0.0");
  });

  it("replaces a running copy (ETXTBSY-proof), in both directions", async () => {
    // A plugin waiting for its config on stdin: a running process of the installed file.
    const running = spawn(join(bin, "patchcord-host-local"), [], { env: { CNI_COMMAND: "ADD", CNI_CONTAINERID: "x", CNI_NETNS: "/x", CNI_IFNAME: "eth0", CNI_PATH: bin }, stdio: ["pipe", "ignore", "ignore"] });
    const sleeper = join(dir, "sleep");
    copyFileSync("/bin/sleep", sleeper);
    try {
      await new Promise((r) => setTimeout(r, 300));
      expect(running.exitCode).toBeNull();
      expect(() => writeFileSync(join(bin, "patchcord-host-local"), "x")).toThrow(/ETXTBSY/);
      expect((await installPlugins({ source: sleeper, binDir: bin, log: () => undefined })).changed).toEqual(installedNames());
      const sleeping = spawn(join(bin, "patchcord-bridge"), ["30"], { stdio: "ignore" });
      try {
        await new Promise((r) => setTimeout(r, 200));
        expect((await installPlugins({ source, binDir: bin, log: () => undefined })).changed).toEqual(installedNames());
        expect(sleeping.exitCode).toBeNull();
      } finally {
        sleeping.kill();
      }
      expect(running.exitCode).toBeNull();
      expect((await version("patchcord-host-local")).code).toBe(0);
    } finally {
      running.kill();
    }
  });

  it.each(["veth-routed", "bridge"] as const)("the rendered %s conflist works with the installed plugins", async (mode) => {
    const pod = await lab.addPod(`p-${mode.slice(0, 2)}`);
    const text = renderConflist({ mode, mtu: 1400, podCIDRs: ["10.244.7.0/24", "fd00:10:244:7::/64"], dataDir: join(ipam, mode), portmap: false, bridgeName: "pctest0" });
    const c = JSON.parse(text);
    const config = { cniVersion: c.cniVersion, name: c.name, ...c.plugins[0] };
    const env = { CNI_COMMAND: "ADD", CNI_CONTAINERID: `ctr-${mode}`, CNI_NETNS: pod, CNI_IFNAME: "eth0", CNI_PATH: bin };
    const add = await lab.plugin(join(bin, c.plugins[0].type), env, config);
    expect(add.stderr).toBe("");
    expect(add.code).toBe(0);
    const ips = (add.json?.ips as { address: string }[]).map((i) => i.address);
    // veth-routed gives the pod its address alone (/32, /128), as ptp does; bridge the subnet's length.
    const len = mode === "bridge" ? ["24", "64"] : ["32", "128"];
    expect(ips).toEqual([`10.244.7.2/${len[0]}`, `fd00:10:244:7::2/${len[1]}`]);
    const link = JSON.parse(await sh("ip", "-n", pod.split("/").pop()!, "-j", "link", "show", "eth0"));
    expect(link[0].mtu).toBe(1400);
    const del = await lab.plugin(join(bin, c.plugins[0].type), { ...env, CNI_COMMAND: "DEL" }, { ...config, prevResult: add.json });
    expect(del.code).toBe(0);
  });

  it("uninstall removes exactly what is ours, and is idempotent", async () => {
    const node = lab.node;
    // The store the veth-routed ADD above used: it holds host-local's dir of network patchcord.
    const store = join(ipam, "veth-routed");
    await lab.addPod("peer");
    await veth(node, "up0", `${lab.prefix}peer`, "eth0");
    await addr(node, "up0", "192.168.90.1/24");
    await sh("ip", "-n", node, "route", "add", "10.244.9.0/24", "via", "192.168.90.9");
    await agentIn(
      node,
      { fn: "syncRoutes", args: { desired: [{ node: "b", dst: "10.244.2.0/24", via: "192.168.90.2" }] } },
      { fn: "syncMasquerade", args: { spec: { podCIDRs: ["10.244.1.0/24"], clusterCIDRs: ["10.244.0.0/16"], nodeIPs: [], backend: "iptables" } } },
    );
    // Both backends at once (a sync clears the other one's, so the nft table goes in by hand).
    const masq = await runCommand(["ip", "netns", "exec", node, "nft", "-f", "-"], nftRuleset(planMasquerade({ podCIDRs: ["10.244.1.0/24"], clusterCIDRs: [], nodeIPs: [] })));
    expect(masq.stderr).toBe("");
    await lab.inNode("nft", "add", "table", "inet", "theirs");
    await writeConflist(conf, renderConflist({ mode: "veth-routed", mtu: 0, podCIDRs: ["10.244.1.0/24"], dataDir: ipam, portmap: true }), () => undefined);
    writeFileSync(join(conf, "10-other.conflist"), "{}");
    writeFileSync(join(bin, "portmap"), "reference portmap");
    writeFileSync(join(bin, "bridge"), "reference bridge");
    // Someone else's file under one of our names: left alone.
    rmSync(join(bin, "patchcord-macvlan"));
    writeFileSync(join(bin, "patchcord-macvlan"), "#!/bin/sh\necho not patchcord\n");
    chmodSync(join(bin, "patchcord-macvlan"), 0o755);
    mkdirSync(join(store, "other"), { recursive: true });
    expect(existsSync(join(store, "patchcord"))).toBe(true);

    const [first, second] = await agentIn(node, { fn: "uninstall", args: { binDir: bin, confDir: conf, ipamDataDir: store } }, { fn: "uninstall", args: { binDir: bin, confDir: conf, ipamDataDir: store } });
    expect(first.logs).toEqual(
      expect.arrayContaining([
        `removed ${conf}/${CONFLIST_NAME}: uninstalling patchcord`,
        `removed ${bin}/patchcord-bridge: uninstalling patchcord`,
        `left ${bin}/patchcord-macvlan: it is not a patchcord binary`,
        "route 10.244.2.0/24 via 192.168.90.2 removed: uninstalling patchcord",
        "removed nftables table inet patchcord_agent: masquerade is off",
        "removed iptables nat chain PATCHCORD-AGENT-MASQ: masquerade is off",
        `removed ${store}/patchcord: host-local's leases of network patchcord`,
      ]),
    );
    expect(second.logs).toEqual([`left ${bin}/patchcord-macvlan: it is not a patchcord binary`]);
    expect(readdirSync(bin).sort()).toEqual(["bridge", "patchcord-macvlan", "portmap"]);
    expect(readFileSync(join(bin, "patchcord-macvlan"), "utf8")).toMatch(/not patchcord/);
    expect(readdirSync(conf)).toEqual(["10-other.conflist"]);
    expect(readdirSync(store)).toEqual(["other"]);
    expect(await routesOf(node, "-4", "proto", String(ROUTE_PROTOCOL))).toEqual([]);
    expect(await routesOf(node, "-4", "exact", "10.244.9.0/24")).toHaveLength(1);
    expect((await lab.inNode("nft", "list", "tables")).stdout).toMatch(/table inet theirs/);
    expect((await lab.inNode("nft", "list", "tables")).stdout).not.toMatch(/patchcord_agent/);
    expect((await lab.inNode("iptables", "-w", "-t", "nat", "-S")).stdout).not.toMatch(/PATCHCORD/);
  });
});
