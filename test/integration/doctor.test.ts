import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "../../shared/kernel/run";
import { hostVethName } from "../../shared/plugin/veth";
import { Driver } from "../../lab/driver";
import { World } from "../../lab/world";
import { BIN, CNITOOL, haveBinaries, isRoot, testIf } from "./helpers";
import { DoctorRun, ids, runDoctor, SceneBed } from "./doctor-lab";
import { kernelSnapshot, settled } from "./doctor-snapshot";

// `patchcord doctor` on the lab's own scenes: each test breaks a healthy topology in exactly one
// way, asks doctor (the built binary, as an operator runs it), expects that finding and no other,
// then applies doctor's own fix and expects silence again.
const it = testIf(isRoot && haveBinaries, "needs root and the built binaries (npm run build)");
const run = `dr${process.pid.toString(36)}`;
jest.setTimeout(60_000);

/** Runs doctor's fix lines (shell, as a person would paste them), skipping comments. */
async function applyFix(r: DoctorRun): Promise<void> {
  for (const f of r.findings) {
    for (const line of f.fix) {
      if (line.startsWith("#")) continue;
      const res = await runCommand(["sh", "-c", line]);
      if (res.code !== 0) throw new Error(`fix ${line} failed: ${res.stderr}`);
    }
  }
}

/** Breaks, expects exactly `id` (and the exit code 1), mends with doctor's fix, expects silence. */
async function expectOnly(bed: SceneBed, node: string, id: string, o: { fix?: boolean; args?: string[] } = {}): Promise<DoctorRun> {
  const broken = await runDoctor([...bed.doctorArgs(node), ...(o.args ?? [])]);
  expect({ ids: ids(broken), code: broken.code }).toEqual({ ids: [id], code: 1 });
  for (const f of broken.findings) {
    expect(f.message.length).toBeGreaterThan(20);
    expect(f.evidence.length).toBeGreaterThan(0);
    for (const e of f.evidence) expect(e.command).toMatch(/^(nsenter --net=\S+ )?(ip|sysctl|nft|iptables-save|ip6tables-save|cat|ls|head) |(ip6?tables -t nat -S )/);
  }
  if (o.fix !== false) {
    await applyFix(broken);
    const mended = await runDoctor([...bed.doctorArgs(node), ...(o.args ?? [])]);
    expect({ ids: ids(mended), code: mended.code, fixed: id }).toEqual({ ids: [], code: 0, fixed: id });
  }
  return broken;
}

async function healthy(bed: SceneBed, node: string): Promise<DoctorRun> {
  const r = await runDoctor(bed.doctorArgs(node));
  expect({ node, ids: ids(r), code: r.code, cannot: r.doc.cannot }).toEqual({ node, ids: [], code: 0, cannot: [] });
  return r;
}

const hostVeth = (bed: SceneBed, pod: string) => hostVethName(bed.ns(pod), "eth0");

describe("doctor on the switch (bridge, no gateway)", () => {
  const bed = new SceneBed("bridge", `${run}s`);
  beforeAll(async () => {
    if (isRoot && haveBinaries) await bed.build();
  });
  afterAll(() => bed.teardown());

  it("is silent on the healthy scene and finds its two pods and their namespaces", async () => {
    const r = await healthy(bed, "switch");
    const pods = r.doc.pods as { condition: string; netns: string; netnsFrom: string }[];
    expect(pods.map((p) => [p.condition, p.netnsFrom])).toEqual([
      ["live", "runtime cache"],
      ["live", "runtime cache"],
    ]);
    expect(r.doc.conflist).toMatch(/lab-switch\.conflist$/);
  });

  it("bridge-port-down: a pod's port set down", async () => {
    await bed.in("switch", "ip", "link", "set", hostVeth(bed, "sw-a"), "down");
    const r = await expectOnly(bed, "switch", "bridge-port-down");
    expect(r.findings[0].message).toContain("is down");
  });

  it("bridge-port-down: a pod's port taken off the bridge", async () => {
    await bed.in("switch", "ip", "link", "set", hostVeth(bed, "sw-b"), "nomaster");
    const r = await expectOnly(bed, "switch", "bridge-port-down");
    expect(r.findings[0].message).toContain("not attached to br0");
  });

  it("bridge-down: the bridge set down", async () => {
    await bed.in("switch", "ip", "link", "set", "br0", "down");
    await expectOnly(bed, "switch", "bridge-down");
  });

  it("pod-link-down: the pod's own eth0 set down", async () => {
    await bed.in("sw-a", "ip", "link", "set", "eth0", "down");
    await expectOnly(bed, "switch", "pod-link-down");
  });

  it("mtu-mismatch: a pod's eth0 larger than the bridge", async () => {
    await bed.in("sw-a", "ip", "link", "set", "eth0", "mtu", "9000");
    const r = await expectOnly(bed, "switch", "mtu-mismatch");
    expect(r.findings[0].message).toMatch(/MTU 9000, larger than bridge br0 \(1500\)/);
  });

  it("conflist-none: the conf dir holds no config", async () => {
    const empty = mkdtempSync(join(tmpdir(), "pc-dr-conf-"));
    try {
      const r = await runDoctor([...bed.doctorArgs("switch"), "--conf-dir", empty]);
      expect({ ids: ids(r), code: r.code }).toEqual({ ids: ["conflist-none"], code: 1 });
      const missing = await runDoctor([...bed.doctorArgs("switch"), "--conf-dir", join(empty, "nope")]);
      expect({ ids: ids(missing), code: missing.code }).toEqual({ ids: ["conflist-none"], code: 1 });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it("conflist-invalid: the runtime's pick does not parse, or its plugin refuses it", async () => {
    const conf = join(bed.world.dir, bed.ns("switch"), "net.d");
    const good = readFileSync(join(conf, "lab-switch.conflist"), "utf8");
    // Sorts first, so it is the runtime's pick.
    for (const [text, why] of [
      ['{"cniVersion": "1.1.0", "name": "broken", "plugins": [', /is not JSON/],
      [good.replace('"bridge": "br0"', '"bridge": "br0", "mtu": "big"').replace('"lab-switch"', '"lab-switch-0"'), /mtu: must be integer/],
      [JSON.stringify({ cniVersion: "9.9.9", name: "old", plugins: [{ type: "bridge" }] }), /cniVersion "9\.9\.9"/],
    ] as const) {
      writeFileSync(join(conf, "00-broken.conflist"), text);
      try {
        const r = await runDoctor(bed.doctorArgs("switch"));
        expect({ ids: ids(r), code: r.code }).toEqual({ ids: ["conflist-invalid"], code: 1 });
        expect(r.findings[0].message).toMatch(why);
        expect(r.findings[0].message).toContain("the runtime's pick");
      } finally {
        rmSync(join(conf, "00-broken.conflist"));
      }
    }
    await healthy(bed, "switch");
  });

  it("plugin-missing: the bin dir lacks the plugin the config names", async () => {
    const bin = mkdtempSync(join(tmpdir(), "pc-dr-bin-"));
    try {
      for (const name of readdirSync(BIN)) if (name !== "bridge") symlinkSync(join(BIN, name), join(bin, name));
      const r = await runDoctor(bed.doctorArgs("switch", bin));
      expect({ ids: ids(r), code: r.code }).toEqual({ ids: ["plugin-missing"], code: 1 });
      expect(r.findings[0].message).toContain('"bridge"');
      await applyFix(r); // links patchcord under the missing name
      const mended = await runDoctor(bed.doctorArgs("switch", bin));
      expect(ids(mended)).toEqual([]);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it("bridge-missing: the bridge deleted (its ports stay, plugged into nothing)", async () => {
    await bed.in("switch", "ip", "link", "del", "br0");
    const r = await expectOnly(bed, "switch", "bridge-missing");
    expect(r.findings[0].message).toContain("the node has no br0");
    const b = (r.doc.pods as { containerId: string; addresses: string[] }[]).find((p) => p.containerId.endsWith("sw-b"))!;
    expect(await bed.reaches("sw-a", b.addresses[0].split("/")[0])).toBe(true); // doctor's fix mended it
  });

  it("stale-reservation: a pod's namespace deleted without DEL (the leak every host-local user meets)", async () => {
    await bed.world.sh(["ip", "netns", "del", bed.ns("sw-b")], { quiet: true });
    const r = await expectOnly(bed, "switch", "stale-reservation");
    expect(r.findings[0].message).toMatch(/10\.10\.1\.\d+ of lab-switch is reserved for container \S+-sw-b \(eth0\), but its namespace \S+ is gone/);
    expect(readdirSync(join(bed.world.dir, "ipam", "lab-switch")).filter((f) => /^\d/.test(f))).toHaveLength(1);
  });

  it("orphan-veth: a pod's reservation gone (a GC) while something holds its unnamed namespace, which keeps its veth", async () => {
    const a = ((await runDoctor(bed.doctorArgs("switch"))).doc.pods as { containerId: string; addresses: string[] }[]).find((p) => p.containerId.endsWith("sw-a"))!;
    const holder = spawn("ip", ["netns", "exec", bed.ns("sw-a"), "sleep", "60"], { stdio: "ignore" });
    try {
      await new Promise((r) => setTimeout(r, 300));
      await bed.world.sh(["ip", "netns", "del", bed.ns("sw-a")], { quiet: true });
      rmSync(join(bed.world.dir, "ipam", "lab-switch", a.addresses[0].split("/")[0]));
      const r = await expectOnly(bed, "switch", "orphan-veth");
      expect(r.findings[0].message).toContain(`${hostVeth(bed, "sw-a")} (a port of br0) is named as patchcord names a pod's host veth`);
    } finally {
      holder.kill("SIGKILL");
    }
  });
});

describe("doctor on the router (veth-routed, one node and two)", () => {
  const bed = new SceneBed("routed", `${run}r`);
  beforeAll(async () => {
    if (isRoot && haveBinaries) await bed.build();
  });
  afterAll(() => bed.teardown());

  it("is silent on the healthy scene's three nodes", async () => {
    for (const node of ["router", "node-a", "node-b"]) await healthy(bed, node);
  });

  it("ip-forward-off: forwarding switched off on the node", async () => {
    await bed.in("router", "sysctl", "-w", "net.ipv4.ip_forward=0");
    const r = await expectOnly(bed, "router", "ip-forward-off");
    expect(r.findings[0].evidence[0].output).toBe("net.ipv4.ip_forward = 0");
  });

  it("return-route-missing: a pod's /32 route deleted on the node", async () => {
    const pod = (await runDoctor(bed.doctorArgs("router"))).doc.pods as { addresses: string[]; containerId: string }[];
    const b = pod.find((p) => p.containerId.endsWith("rt-b"))!;
    await bed.in("router", "ip", "route", "del", b.addresses[0].split("/")[0], "dev", hostVeth(bed, "rt-b"));
    const r = await expectOnly(bed, "router", "return-route-missing");
    expect(r.findings[0].fix).toEqual([`nsenter --net=/run/netns/${bed.ns("router")} ip route replace ${b.addresses[0].split("/")[0]}/32 dev ${hostVeth(bed, "rt-b")}`]);
  });

  it("host-veth-down: a pod's host veth set down (its route goes with it)", async () => {
    await bed.in("router", "ip", "link", "set", hostVeth(bed, "rt-a"), "down");
    await expectOnly(bed, "router", "host-veth-down");
  });

  it("gateway-unreachable: the node's side renumbered (the gateway address gone from the pod's veth)", async () => {
    const veth = hostVeth(bed, "rt-a");
    await bed.in("router", "ip", "addr", "add", "10.10.2.254/32", "dev", veth);
    await bed.in("router", "ip", "addr", "del", "10.10.2.1/32", "dev", veth);
    const r = await expectOnly(bed, "router", "gateway-unreachable");
    expect(r.findings[0].message).toContain(`its gateway 10.10.2.1 is not on its host veth ${veth}`);
    await bed.in("router", "ip", "addr", "del", "10.10.2.254/32", "dev", veth);
    await healthy(bed, "router");
  });

  it("gateway-unreachable: the pod's link route to its gateway deleted", async () => {
    await bed.in("rt-b", "ip", "route", "del", "10.10.2.1", "dev", "eth0");
    const r = await expectOnly(bed, "router", "gateway-unreachable");
    expect(r.findings[0].message).toContain("its default route goes via 10.10.2.1, which no route of the pod puts on eth0");
  });

  it("a --pod namespace is matched to its reservation by address, and one that holds none is a note", async () => {
    const r = await runDoctor([...bed.doctorArgs("router"), "--cache-dir", "/nonexistent", "--pod", bed.ns("rt-a"), "--pod", bed.ns("router")]);
    expect(ids(r)).toEqual([]);
    const from = (r.doc.pods as { containerId: string; netnsFrom: string }[]).map((p) => [p.containerId.slice(-4), p.netnsFrom]).sort();
    // rt-b's namespace is known from its host veth's peer, as the runtime's cache is not there.
    expect(from).toEqual([
      ["rt-a", "--pod"],
      ["rt-b", "host veth peer"],
    ]);
    expect(r.doc.notes).toEqual([expect.stringContaining(`--pod /run/netns/${bed.ns("router")}: none of its addresses`)]);
  });

  it("--probe: a ping between two pods with the counters on the way; with forwarding off, where it died", async () => {
    const ok = await runDoctor([...bed.doctorArgs("router"), "--probe", bed.ns("rt-a"), bed.ns("rt-b")]);
    expect({ ids: ids(ok), code: ok.code }).toEqual({ ids: [], code: 0 });
    expect(ok.doc.probe).toMatchObject({ sent: 3, received: 3 });
    await bed.in("router", "sysctl", "-w", "net.ipv4.ip_forward=0");
    try {
      const r = await runDoctor([...bed.doctorArgs("router"), "--probe", bed.ns("rt-a"), bed.ns("rt-b")]);
      expect({ ids: ids(r), code: r.code }).toEqual({ ids: ["ip-forward-off", "probe-failed"], code: 1 });
      expect(r.findings.find((f) => f.id === "probe-failed")!.message).toMatch(/reached the node .* but were not forwarded: net\.ipv4\.ip_forward is 0/);
      const text = await runCommand([join(BIN, "patchcord"), "doctor", ...bed.doctorArgs("router"), "--probe", bed.ns("rt-a"), bed.ns("rt-b")]);
      expect(text.stdout).toMatch(/probe: \/run\/netns\/\S+ → \/run\/netns\/\S+ \(10\.10\.2\.\d+\): 0\/3 replies/);
    } finally {
      await bed.in("router", "sysctl", "-w", "net.ipv4.ip_forward=1");
    }
  });

  it("return-route-missing: a live pod whose veth is gone (deleted from inside the pod)", async () => {
    await bed.in("rt-b", "ip", "link", "del", "eth0");
    const r = await expectOnly(bed, "router", "return-route-missing", { fix: false });
    expect(r.findings[0].message).toMatch(/its namespace \S+ is there but its veth \(veth\w+ on the node\) is gone/);
  });

  it("stale-reservation: the unplugged pod's namespace deleted too", async () => {
    await bed.world.sh(["ip", "netns", "del", bed.ns("rt-b")], { quiet: true });
    await expectOnly(bed, "router", "stale-reservation");
  });
});

describe("doctor on the NAT scene (bridge as gateway, ipMasq)", () => {
  const bed = new SceneBed("nat", `${run}n`);
  beforeAll(async () => {
    if (isRoot && haveBinaries) await bed.build();
  });
  afterAll(() => bed.teardown());

  it("is silent on the healthy scene (a network without ipMasq is not a finding)", async () => {
    const r = await healthy(bed, "nat");
    expect((r.doc.networks as { name: string }[]).map((n) => n.name)).toEqual(["lab-masq", "lab-plain"]);
  });

  it("masquerade-missing: the pod's element deleted from the masquerade set", async () => {
    const pod = ((await runDoctor(bed.doctorArgs("nat"))).doc.pods as { network: string; addresses: string[] }[]).find((p) => p.network === "lab-masq")!;
    await bed.in("nat", "nft", "delete", "element", "inet", "patchcord", "masq_pods4", `{ ${pod.addresses[0].split("/")[0]} }`);
    await expectOnly(bed, "nat", "masquerade-missing");
    expect(await bed.reaches("nat-a", "192.0.2.2")).toBe(true);
  });

  it("masquerade-missing: the whole masquerade table deleted", async () => {
    await bed.in("nat", "nft", "delete", "table", "inet", "patchcord");
    await expectOnly(bed, "nat", "masquerade-missing");
  });

  it("ip-forward-off: forwarding off on a node that is its bridge pods' gateway", async () => {
    await bed.in("nat", "sysctl", "-w", "net.ipv4.ip_forward=0");
    const r = await expectOnly(bed, "nat", "ip-forward-off");
    expect(r.findings[0].message).toContain("lab-masq (bridge), lab-plain (bridge)");
  });

  it("mtu-mismatch: a pod larger than the node's uplink (its default route's link)", async () => {
    await bed.in("nat", "ip", "route", "add", "default", "via", "192.0.2.2");
    await bed.in("nat", "ip", "link", "set", "uplink", "mtu", "1400");
    try {
      const r = await expectOnly(bed, "nat", "mtu-mismatch", { fix: false });
      expect(r.findings.map((f) => f.message)).toEqual([expect.stringContaining("the node's uplink uplink (1400)"), expect.stringContaining("the node's uplink uplink (1400)")]);
    } finally {
      await bed.in("nat", "ip", "link", "set", "uplink", "mtu", "1500");
      await bed.in("nat", "ip", "route", "del", "default");
    }
    await healthy(bed, "nat");
  });

  it("gateway-unreachable: the bridge's gateway address removed", async () => {
    await bed.in("nat", "ip", "addr", "del", "10.10.5.1/24", "dev", "br0");
    const r = await expectOnly(bed, "nat", "gateway-unreachable");
    expect(r.findings[0].message).toContain("gateway 10.10.5.1 of lab-masq is not on bridge br0");
  });

  it("changes nothing: the kernel, the store and the cache are the same before and after, broken or not", async () => {
    const namespaces = ["nat", "nat-a", "nat-b"].map((n) => bed.ns(n));
    const files = [join(bed.world.dir, "ipam"), join(bed.world.dir, bed.ns("nat"))];
    for (const broken of [false, true]) {
      if (broken) await bed.in("nat", "nft", "delete", "table", "inet", "patchcord");
      await settled(namespaces);
      const before = await kernelSnapshot(namespaces, files);
      const r = await runDoctor([...bed.doctorArgs("nat"), "--pod", bed.ns("nat-a")]);
      expect(r.code).toBe(broken ? 1 : 0);
      const after = await kernelSnapshot(namespaces, files);
      expect(after).toEqual(before);
      expect((r.doc.commands as string[]).length).toBeGreaterThan(5);
      for (const c of r.doc.commands as string[]) expect(c).toMatch(/^(nsenter --net=\S+ )?(ip (-j )?(-d |-4 |-6 )?(addr|route|link|netns list-id)( show| get)?\b|sysctl (-a --pattern|net\.)|nft (-j )?list |ip6?tables-save|ip6?tables -t nat -S |cat |ls |head )/);
      expect((r.doc.commands as string[]).filter((c) => / (add|del|delete|flush|replace|set|-w) /.test(c.replace(/--pattern \S+/, "").replace(/ list set /, " list SET ")))).toEqual([]);
    }
  });
});

describe("doctor on a dual-stack veth-routed network masquerading with iptables", () => {
  let world: World | undefined;
  let node = "";
  const args = () => ["--netns", node, "--conf-dir", join(world!.dir, node, "net.d"), "--bin-dir", BIN, "--cache-dir", join(world!.dir, node, "cache")];
  beforeAll(async () => {
    if (!(isRoot && haveBinaries)) return;
    world = new World(`${run}i`);
    const driver = new Driver(world, CNITOOL, [BIN]);
    node = await world.addNetns("node");
    const ipam = { type: "host-local", dataDir: join(world.dir, "ipam"), ranges: [[{ subnet: "10.42.0.0/24" }], [{ subnet: "fd00:42::/64" }]] };
    driver.install(node, { cniVersion: "1.1.0", name: "ipt", plugins: [{ type: "veth-routed", ipMasq: true, ipMasqBackend: "iptables", ipam }] });
    for (const p of ["p1", "p2"]) await driver.add(node, "ipt", await world.addNetns(p));
  });
  afterAll(() => world?.teardown());

  it("is silent when healthy, and re-adds only the family whose jump is gone", async () => {
    expect(ids(await runDoctor(args()))).toEqual([]);
    const dump = (await runCommand(["ip", "netns", "exec", node, "ip6tables-save", "-t", "nat"])).stdout;
    const jump = dump.split("\n").find((l) => l.startsWith("-A POSTROUTING") && l.includes(world!.ns("p1")))!;
    const del = await runCommand(["sh", "-c", `ip netns exec ${node} ip6tables -t nat ${jump.replace(/^-A /, "-D ")}`]);
    expect(del.code).toBe(0);
    const r = await runDoctor(args());
    expect({ ids: ids(r), code: r.code }).toEqual({ ids: ["masquerade-missing"], code: 1 });
    expect(r.findings[0].message).toContain(`container ${world!.ns("p1")}`);
    expect(r.findings[0].fix).toEqual([expect.stringMatching(/^nsenter --net=\S+ ip6tables-restore --noflush <<'EOF'\n\*nat\n/)]);
    await applyFix(r);
    expect(ids(await runDoctor(args()))).toEqual([]);
    // The IPv4 rules were left alone: one jump per pod and family.
    const after = (await runCommand(["ip", "netns", "exec", node, "iptables-save", "-t", "nat"])).stdout;
    expect(after.split("\n").filter((l) => l.startsWith("-A POSTROUTING"))).toHaveLength(2);
  });
});

describe("doctor's exit status when it cannot look", () => {
  it("2 for a node namespace that is not there, and for a bad argument", async () => {
    const gone = await runDoctor(["--netns", `${run}-no-such-node`]);
    expect({ code: gone.code, cannot: gone.doc.cannot }).toEqual({ code: 2, cannot: [expect.stringContaining("no such namespace")] });
    const bad = await runCommand([join(BIN, "patchcord"), "doctor", "--conf-dir", "relative/dir"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--conf-dir needs an absolute path");
  });
});
