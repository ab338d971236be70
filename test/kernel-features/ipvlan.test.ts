import { join } from "node:path";
import { tempDataDir } from "../../plugins/host-local/test-helpers";
import { BIN, haveBinaries, isRoot, runId, SPEC_VERSIONS, testIf } from "../integration/helpers";
import { NetLab } from "../integration/netlab";

// ipvlan needs the ipvlan module, which the CI kernel lacks: `npm test` runs this file inside a
// guest kernel that has it (scripts/kernel-run.sh: User-Mode Linux, else a QEMU VM), with a dummy
// link as the master.
const it = testIf(isRoot && haveBinaries, "needs root and the built binaries");
const rid = runId();
const lab = new NetLab(rid);
const bin = join(BIN, "ipvlan");
let data: ReturnType<typeof tempDataDir>;
let seq = 0;

beforeAll(async () => {
  data = tempDataDir("pc-ipvlan-");
  if (isRoot) await lab.create();
});
afterAll(async () => {
  await lab.destroy();
  data.remove();
});

async function newMaster(): Promise<string> {
  const m = `dm${++seq}`;
  await lab.inNode("ip", "link", "add", m, "type", "dummy");
  await lab.inNode("ip", "link", "set", m, "up");
  return m;
}
const conf = (version: string, extra: Record<string, unknown>) => ({
  cniVersion: version,
  name: `ipv${seq}`,
  type: "ipvlan",
  ...extra,
  ipam: { type: "host-local", dataDir: data.dir, subnet: `198.19.${150 + seq}.0/24` },
});
const env = (command: string, id: string, netns: string) => ({ CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: "eth0", CNI_PATH: BIN });
const nsOf = (p: string) => p.split("/").pop()!;
const ping = (from: string, to: string) => NetLab.sh("ip", "netns", "exec", nsOf(from), "ping", "-c", "1", "-W", "1", to).then((r) => r.code === 0);
const macOf = async (netns: string | undefined, dev: string) => {
  const r = netns ? await NetLab.sh("ip", "-n", nsOf(netns), "-j", "link", "show", dev) : await lab.inNode("ip", "-j", "link", "show", dev);
  return (JSON.parse(r.stdout || "[{}]")[0] as { address?: string }).address;
};

describe.each(SPEC_VERSIONS)("ipvlan %s", (version) => {
  it("l2: two pods reach each other and share the master's MAC; CHECK; DEL cleans up", async () => {
    const master = await newMaster();
    const c = conf(version, { master });
    const subnet = `198.19.${150 + seq}`;
    const [a, b] = [await lab.addPod(`l2a${seq}`), await lab.addPod(`l2b${seq}`)];
    const ra = await lab.plugin(bin, env("ADD", `a${version}`, a), c);
    const rb = await lab.plugin(bin, env("ADD", `b${version}`, b), c);
    expect([ra.code, ra.stderr, rb.code]).toEqual([0, "", 0]);
    const masterMac = await macOf(undefined, master);
    expect(await macOf(a, "eth0")).toBe(masterMac);
    expect(await macOf(b, "eth0")).toBe(masterMac);
    expect((ra.json!.interfaces as { mac: string }[])[0].mac).toBe(masterMac);
    expect(await ping(a, `${subnet}.3`)).toBe(true);
    if (version >= "0.4.0") {
      const ok = await lab.plugin(bin, env("CHECK", `a${version}`, a), { ...c, prevResult: ra.json });
      expect([ok.code, ok.stdout]).toEqual([0, ""]);
    }
    for (const [id, pod] of [[`a${version}`, a], [`a${version}`, a], [`b${version}`, b]]) expect((await lab.plugin(bin, env("DEL", id, pod), c)).code).toBe(0);
    expect((await NetLab.sh("ip", "-n", nsOf(a), "link", "show", "eth0")).code).not.toBe(0);
  });
});

describe("ipvlan modes", () => {
  it("l3: the pod's routes point at the device, and pods reach each other", async () => {
    const master = await newMaster();
    const c = conf("1.0.0", { master, mode: "l3" });
    const subnet = `198.19.${150 + seq}`;
    const [a, b] = [await lab.addPod(`l3a${seq}`), await lab.addPod(`l3b${seq}`)];
    const ra = await lab.plugin(bin, env("ADD", "l3a", a), c);
    expect((await lab.plugin(bin, env("ADD", "l3b", b), c)).code).toBe(0);
    expect(ra.json!.routes).toEqual([{ dst: "0.0.0.0/0" }]);
    expect((await NetLab.sh("ip", "-n", nsOf(a), "route", "show", "default")).stdout).toMatch(/^default dev eth0/);
    expect((await NetLab.sh("ip", "-n", nsOf(a), "-d", "link", "show", "eth0")).stdout).toMatch("ipvlan  mode l3");
    expect(await ping(a, `${subnet}.3`)).toBe(true);
  });

  it("the private flag isolates siblings", async () => {
    const master = await newMaster();
    const c = conf("1.0.0", { master, flag: "private" });
    const subnet = `198.19.${150 + seq}`;
    const [a, b] = [await lab.addPod(`pa${seq}`), await lab.addPod(`pb${seq}`)];
    expect((await lab.plugin(bin, env("ADD", "pa", a), c)).code).toBe(0);
    expect((await lab.plugin(bin, env("ADD", "pb", b), c)).code).toBe(0);
    expect(await ping(a, `${subnet}.3`)).toBe(false);
  });

  it("linkInContainer: the master lives in the pod's namespace and the child is made there", async () => {
    const pod = await lab.addPod(`lic${++seq}`);
    const master = `pdm${seq}`;
    await NetLab.sh("ip", "-n", nsOf(pod), "link", "add", master, "type", "dummy");
    await NetLab.sh("ip", "-n", nsOf(pod), "link", "set", master, "up");
    const c = conf("1.1.0", { master, linkInContainer: true, mode: "l2" });
    const add = await lab.plugin(bin, env("ADD", "lic", pod), c);
    expect([add.code, add.stderr]).toEqual([0, ""]);
    const child = (await NetLab.sh("ip", "-n", nsOf(pod), "-d", "addr", "show", "eth0")).stdout;
    expect(child).toMatch(`eth0@${master}`);
    expect(child).toMatch("ipvlan  mode l2");
    expect(child).toMatch(`inet 198.19.${150 + seq}.2/24`);
    expect(await macOf(pod, "eth0")).toBe(await macOf(pod, master));
    expect((await lab.plugin(bin, env("CHECK", "lic", pod), { ...c, prevResult: add.json })).code).toBe(0);
    expect((await lab.plugin(bin, env("DEL", "lic", pod), c)).code).toBe(0);
    expect((await NetLab.sh("ip", "-n", nsOf(pod), "link", "show", "eth0")).code).not.toBe(0);
    expect((await NetLab.sh("ip", "-n", nsOf(pod), "link", "show", master)).code).toBe(0);
  });

  it("chained without master and IPAM: the master and the addresses come from prevResult", async () => {
    const master = await newMaster();
    const pod = await lab.addPod(`ch${seq}`);
    const prevResult = { cniVersion: "1.0.0", interfaces: [{ name: master }], ips: [{ address: "198.19.149.7/24", gateway: "198.19.149.1" }] };
    const c = { cniVersion: "1.0.0", name: `ipvch${seq}`, type: "ipvlan", prevResult };
    const add = await lab.plugin(bin, env("ADD", "ch", pod), c);
    expect([add.code, add.stderr]).toEqual([0, ""]);
    expect(add.json).toMatchObject({ interfaces: [{ name: "eth0", sandbox: pod }], ips: [{ address: "198.19.149.7/24", gateway: "198.19.149.1" }] });
    const child = (await NetLab.sh("ip", "-n", nsOf(pod), "-d", "addr", "show", "eth0")).stdout;
    expect(child).toMatch("ipvlan  mode l2");
    expect(child).toMatch("inet 198.19.149.7/24");
    expect(await macOf(pod, "eth0")).toBe(await macOf(undefined, master));
    // Two named interfaces in prevResult: which one is the master is ambiguous, so it is an error.
    const two = await lab.plugin(bin, env("ADD", "ch2", await lab.addPod(`ch2${seq}`)), { ...c, prevResult: { ...prevResult, interfaces: [{ name: master }, { name: "other0" }] } });
    expect(two.json).toMatchObject({ code: 7, msg: "master: not set, and prevResult does not have exactly one interface to take it from" });
    expect((await lab.plugin(bin, env("DEL", "ch", pod), c)).code).toBe(0);
    expect((await NetLab.sh("ip", "-n", nsOf(pod), "link", "show", "eth0")).code).not.toBe(0);
  });

  it("an unsupported mode, a missing master, an MTU above the master's: code 7, nothing changed", async () => {
    const master = await newMaster();
    const pod = await lab.addPod(`bad${seq}`);
    for (const [extra, msg] of [
      [{ master, mode: "l4" }, 'mode: must be one of ["l2","l3","l3s"], got "l4"'],
      [{ master: "nosuch0" }, 'master: "nosuch0" does not exist'],
      [{ master, mtu: 9000 }, `mtu: 9000 is above the MTU of master ${master} (1500)`],
    ] as const) {
      const r = await lab.plugin(bin, env("ADD", "bad", pod), conf("1.0.0", extra));
      expect(r.json).toMatchObject({ code: 7, msg });
      expect((await NetLab.sh("ip", "-n", nsOf(pod), "link", "show", "eth0")).code).not.toBe(0);
    }
  });
});
