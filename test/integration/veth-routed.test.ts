import { join } from "node:path";
import { tempDataDir } from "../../plugins/host-local/test-helpers";
import { hostVethName } from "../../shared/plugin/veth";
import { BIN, haveBinaries, haveReference, isRoot, REFERENCE_DIR, runId, SPEC_VERSIONS, testIf } from "./helpers";
import { execPluginIn, NetLab } from "./netlab";

// veth-routed against the real kernel: the node is a throwaway namespace, as in bridge.test.ts.
const it = testIf(isRoot && haveBinaries, "needs root and the built binaries (npm run build)");
const itRef = testIf(isRoot && haveBinaries && haveReference, "needs root, the built binaries and the reference plugins");
const rid = runId();
const lab = new NetLab(rid);
const bin = join(BIN, "veth-routed");
let data: ReturnType<typeof tempDataDir>;
let seq = 0;

beforeAll(async () => {
  data = tempDataDir("pc-vr-");
  if (isRoot) await lab.create();
});
afterAll(async () => {
  await lab.destroy();
  data.remove();
});

function network(version = "1.0.0", extra: Record<string, unknown> = {}) {
  const n = ++seq;
  const conf = { cniVersion: version, name: `vrnet${n}`, type: "veth-routed", ipam: { type: "host-local", dataDir: data.dir, ranges: [[{ subnet: `198.19.${n}.0/24` }]] }, ...extra };
  return { conf, subnet: `198.19.${n}` };
}
const env = (command: string, id: string, netns: string) => ({ CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: "eth0", CNI_PATH: BIN });
const nsOf = (path: string) => path.split("/").pop()!;
const reservations = (name: string) => Object.keys(data.snapshot(name)).filter((f) => /^[0-9a-f]/.test(f) && !f.startsWith("last"));

/** Pings until it answers or `tries` seconds pass (IPv6 link-local addresses need a moment). */
async function reaches(ns: string, address: string, tries = 1): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if ((await NetLab.sh("ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", address)).code === 0) return true;
  }
  return false;
}

describe.each(SPEC_VERSIONS)("veth-routed %s", (version) => {
  it("host to pod, pod to host, pod to pod through the node; CHECK; removing the return route breaks replies and CHECK says so; DEL twice", async () => {
    const { conf, subnet } = network(version);
    const [podA, podB] = [`a-${version}`, `b-${version}`];
    const [a, b] = [await lab.addPod(`${seq}a`), await lab.addPod(`${seq}b`)];
    const ra = await lab.plugin(bin, env("ADD", podA, a), conf);
    const rb = await lab.plugin(bin, env("ADD", podB, b), conf);
    expect([ra.code, ra.stderr, rb.code]).toEqual([0, "", 0]);
    expect(ra.json).toMatchObject({
      cniVersion: version,
      interfaces: [{ name: hostVethName(podA, "eth0") }, { name: "eth0", sandbox: a }],
      ips: [{ address: `${subnet}.2/32`, gateway: `${subnet}.1`, interface: 1 }],
      routes: [{ dst: "0.0.0.0/0", gw: `${subnet}.1` }],
    });
    // The pod: its address alone, an on-link route to the gateway, the default route via it.
    const podRoutes = (await NetLab.sh("ip", "-n", nsOf(a), "route", "show")).stdout;
    expect(podRoutes).toMatch(`default via ${subnet}.1 dev eth0`);
    expect(podRoutes).toMatch(new RegExp(`${subnet.replace(/\./g, "\\.")}\\.1 dev eth0 scope link`));
    // The node: the return route and forwarding.
    expect((await lab.inNode("ip", "route", "show", `${subnet}.2`)).stdout).toMatch(`dev ${hostVethName(podA, "eth0")}`);
    expect((await lab.inNode("cat", "/proc/sys/net/ipv4/ip_forward")).stdout.trim()).toBe("1");
    expect(await reaches(lab.node, `${subnet}.2`)).toBe(true); // host -> pod
    expect(await reaches(nsOf(a), `${subnet}.1`)).toBe(true); // pod -> host
    expect(await reaches(nsOf(a), `${subnet}.3`)).toBe(true); // pod -> pod

    const withPrev = { ...conf, prevResult: ra.json };
    if (version >= "0.4.0") {
      const ok = await lab.plugin(bin, env("CHECK", podA, a), withPrev);
      expect([ok.code, ok.stdout]).toEqual([0, ""]);
    }
    // Without the return route the request arrives but the reply has no way back.
    await lab.inNode("ip", "route", "del", `${subnet}.2/32`);
    expect(await reaches(nsOf(b), `${subnet}.2`)).toBe(false);
    if (version >= "0.4.0") {
      const broken = await lab.plugin(bin, env("CHECK", podA, a), withPrev);
      expect(broken.json).toMatchObject({ code: 102, msg: `the node's return route to ${subnet}.2/32 via ${hostVethName(podA, "eth0")} is missing` });
    }
    for (const [id, pod] of [[podA, a], [podA, a], [podB, b]]) {
      expect((await lab.plugin(bin, env("DEL", id, pod), conf)).code).toBe(0);
    }
    expect((await lab.inNode("ip", "-o", "link", "show", "type", "veth")).stdout).not.toMatch(/veth[0-9a-f]{11}/);
    expect(reservations(conf.name)).toEqual([]);
  });
});

describe("veth-routed", () => {
  it("dual-stack: the pod reaches the node over IPv4 and IPv6", async () => {
    const n = ++seq;
    const conf = { cniVersion: "1.0.0", name: `vrnet${n}`, type: "veth-routed", ipam: { type: "host-local", dataDir: data.dir, ranges: [[{ subnet: `198.19.${n}.0/24` }], [{ subnet: `fd19:${n}::/64` }]] } };
    const pod = await lab.addPod(`${n}ds`);
    const r = await lab.plugin(bin, env("ADD", "dual", pod), conf);
    expect(r.code).toBe(0);
    expect((r.json!.ips as { address: string }[]).map((i) => i.address)).toEqual([`198.19.${n}.2/32`, `fd19:${n}::2/128`]);
    expect(await reaches(nsOf(pod), `198.19.${n}.1`)).toBe(true);
    expect(await reaches(nsOf(pod), `fd19:${n}::1`, 5)).toBe(true);
    expect((await lab.inNode("cat", "/proc/sys/net/ipv6/conf/all/forwarding")).stdout.trim()).toBe("1");
    expect((await lab.plugin(bin, env("DEL", "dual", pod), conf)).code).toBe(0);
  });

  it("IPv6 reaches a pod from the first packet: another pod's ping to a pod just added answers at once", async () => {
    const n = ++seq;
    const conf = { cniVersion: "1.0.0", name: `vrnet${n}`, type: "veth-routed", ipam: { type: "host-local", dataDir: data.dir, ranges: [[{ subnet: `fd19:${n}::/64` }]] } };
    const [a, b] = [await lab.addPod(`${n}fa`), await lab.addPod(`${n}fb`)];
    expect((await lab.plugin(bin, env("ADD", "first-a", a), conf)).code).toBe(0);
    expect(await reaches(nsOf(a), `fd19:${n}::1`, 5)).toBe(true);
    expect((await lab.plugin(bin, env("ADD", "first-b", b), conf)).code).toBe(0);
    // The node forwards to b with a neighbour solicitation from b's host veth: with that veth's
    // link-local address in DAD (tentative ~2 s after it comes up) this first ping would time out.
    const started = Date.now();
    expect(await reaches(nsOf(a), `fd19:${n}::3`)).toBe(true);
    expect(Date.now() - started).toBeLessThan(1000);
    for (const [id, pod] of [["first-a", a], ["first-b", b]]) expect((await lab.plugin(bin, env("DEL", id, pod), conf)).code).toBe(0);
  });

  it("ipMasq: masquerade entries added and removed; DEL without the netns cleans up", async () => {
    const { conf } = network("1.1.0", { ipMasq: true });
    const pod = await lab.addPod(`${seq}m`);
    const add = await lab.plugin(bin, env("ADD", "masq", pod), conf);
    expect(add.code).toBe(0);
    expect((await lab.plugin(bin, env("CHECK", "masq", pod), { ...conf, prevResult: add.json })).code).toBe(0);
    // The pod's own subnet is exempt, so pod-to-pod traffic keeps its source address.
    expect((await lab.inNode("nft", "list", "set", "inet", "patchcord", "masq_local4")).stdout).toMatch(/\. 198\.19\.\d+\.0\/24/);
    const tagged = async () => (await lab.inNode("nft", "list", "table", "inet", "patchcord")).stdout.includes(`"${conf.name}/masq/eth0"`);
    expect(await tagged()).toBe(true);
    await lab.deleteNetns(nsOf(pod));
    expect((await lab.plugin(bin, env("DEL", "masq", pod), conf)).code).toBe(0);
    expect(await tagged()).toBe(false);
    expect(reservations(conf.name)).toEqual([]);
  });

  it("a late failure (a route the kernel rejects) undoes the veth, the node's routes and the reservation", async () => {
    const n = ++seq;
    const conf = {
      cniVersion: "1.0.0",
      name: `vrnet${n}`,
      type: "veth-routed",
      ipMasq: true,
      ipam: { type: "host-local", dataDir: data.dir, subnet: `198.19.${n}.0/24`, routes: [{ dst: "203.0.113.0/24", gw: "192.0.2.1" }] },
    };
    const pod = await lab.addPod(`${n}late`);
    const r = await lab.plugin(bin, env("ADD", "late", pod), conf);
    expect(r.json).toMatchObject({ code: 103, msg: expect.stringContaining("ip route add 203.0.113.0/24 via 192.0.2.1 dev eth0") });
    expect((await lab.inNode("ip", "link", "show", hostVethName("late", "eth0"))).code).not.toBe(0);
    expect((await lab.inNode("ip", "route", "show", `198.19.${n}.2`)).stdout).toBe("");
    expect((await lab.inNode("nft", "list", "ruleset")).stdout).not.toContain(`198.19.${n}.2 `);
    expect(reservations(conf.name)).toEqual([]);
  });

  it("a config key ptp does not have is refused with code 2; ipam is required (code 7)", async () => {
    const { conf } = network("1.0.0", { bridge: "cni0" });
    const pod = await lab.addPod(`${seq}bad`);
    expect((await lab.plugin(bin, env("ADD", "bad", pod), conf)).json).toMatchObject({ code: 2, msg: 'bridge: unsupported key (value "cni0")' });
    const { ipam: _ipam, ...noIpam } = network("1.0.0").conf;
    expect((await lab.plugin(bin, env("ADD", "bad", pod), noIpam)).json).toMatchObject({ code: 7, msg: "ipam: is required" });
  });

  it("two nodes, a pod on each: the pods talk through the node routes, and not without the return route on one side", async () => {
    // Node A and node B are two namespaces joined by a veth pair (their "wire"); each runs the
    // plugin as its host side and owns a pod CIDR, and each routes the other's CIDR via the wire.
    const nodes = ["A", "B"].map((x) => `${rid}nd${x}`);
    for (const n of nodes) await lab.addNetns(n);
    await NetLab.sh("ip", "link", "add", "wire", "netns", nodes[0], "type", "veth", "peer", "name", "wire", "netns", nodes[1]);
    const inNode = (i: number, ...argv: string[]) => NetLab.sh("ip", "netns", "exec", nodes[i], ...argv);
    await inNode(0, "ip", "addr", "add", "192.0.2.1/30", "dev", "wire");
    await inNode(1, "ip", "addr", "add", "192.0.2.2/30", "dev", "wire");
    for (const i of [0, 1]) await inNode(i, "ip", "link", "set", "wire", "up");
    const cidrs = ["198.19.201", "198.19.202"];
    const pods = [await lab.addPod("twoA"), await lab.addPod("twoB")];
    const results = [];
    for (const i of [0, 1]) {
      const conf = { cniVersion: "1.0.0", name: `two${i}`, type: "veth-routed", ipam: { type: "host-local", dataDir: data.dir, subnet: `${cidrs[i]}.0/24` } };
      const r = await execPluginIn(nodes[i], bin, env("ADD", `two-${i}`, pods[i]), conf);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      results.push(r.json!);
    }
    // Node A knows B's pod CIDR (and B knows A's) through the wire.
    await inNode(0, "ip", "route", "add", `${cidrs[1]}.0/24`, "via", "192.0.2.2");
    expect(await reaches(nsOf(pods[0]), `${cidrs[1]}.2`)).toBe(false); // the request arrives at B, the reply has no way back
    await inNode(1, "ip", "route", "add", `${cidrs[0]}.0/24`, "via", "192.0.2.1");
    expect(await reaches(nsOf(pods[0]), `${cidrs[1]}.2`)).toBe(true);
    expect(await reaches(nsOf(pods[1]), `${cidrs[0]}.2`)).toBe(true);
    for (const i of [0, 1]) {
      const conf = { cniVersion: "1.0.0", name: `two${i}`, type: "veth-routed", ipam: { type: "host-local", dataDir: data.dir, subnet: `${cidrs[i]}.0/24` } };
      expect((await execPluginIn(nodes[i], bin, env("DEL", `two-${i}`, pods[i]), conf)).code).toBe(0);
    }
    void results;
  });

  itRef("the reference ptp's conflist works with our type name, and chains with the reference portmap", async () => {
    const n = ++seq;
    const ptp = { cniVersion: "1.0.0", name: `vrnet${n}`, type: "ptp", ipMasq: true, mtu: 1400, ipam: { type: "host-local", dataDir: data.dir, subnet: `198.19.${n}.0/24` }, dns: { nameservers: ["198.19.0.53"] } };
    const ours = { ...ptp, type: "veth-routed" };
    const pod = await lab.addPod(`${n}ptp`);
    const add = await lab.plugin(bin, env("ADD", "ptpconf", pod), ours);
    expect([add.code, add.stderr]).toEqual([0, ""]);
    expect(add.json!.dns).toEqual({ nameservers: ["198.19.0.53"] });
    expect((await NetLab.sh("ip", "-n", nsOf(pod), "link", "show", "eth0")).stdout).toMatch("mtu 1400");
    const portmap = { cniVersion: "1.0.0", name: ours.name, type: "portmap", capabilities: { portMappings: true }, runtimeConfig: { portMappings: [{ hostPort: 18181, containerPort: 80, protocol: "tcp" }] } };
    const pm = await lab.plugin(join(REFERENCE_DIR, "portmap"), env("ADD", "ptpconf", pod), { ...portmap, prevResult: add.json });
    expect(pm.code).toBe(0);
    expect((await lab.inNode("iptables-save", "-t", "nat")).stdout).toMatch("--dport 18181");
    expect((await lab.plugin(join(REFERENCE_DIR, "portmap"), env("DEL", "ptpconf", pod), { ...portmap, prevResult: pm.json })).code).toBe(0);
    expect((await lab.plugin(bin, env("DEL", "ptpconf", pod), { ...ours, prevResult: pm.json })).code).toBe(0);
    expect((await lab.inNode("iptables-save", "-t", "nat")).stdout).not.toMatch("--dport 18181");
  });
});
