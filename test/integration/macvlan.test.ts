import { join } from "node:path";
import { tempDataDir } from "../../plugins/host-local/test-helpers";
import { BIN, haveBinaries, isRoot, runId, SPEC_VERSIONS, testIf } from "./helpers";
import { NetLab } from "./netlab";

// macvlan against the real kernel. The master is one end of a veth pair the test makes inside a
// throwaway node namespace, never the host's NIC.
const it = testIf(isRoot && haveBinaries, "needs root and the built binaries (npm run build)");
const rid = runId();
const lab = new NetLab(rid);
const bin = join(BIN, "macvlan");
let data: ReturnType<typeof tempDataDir>;
let seq = 0;
let masters = 0;

beforeAll(async () => {
  data = tempDataDir("pc-mv-");
  if (isRoot) await lab.create();
});
afterAll(async () => {
  await lab.destroy();
  data.remove();
});

/** A fresh master (a veth end, up, with its peer up for carrier) in the node namespace. */
async function newMaster(mtu = 1500): Promise<string> {
  const m = `mst${++masters}`;
  await lab.inNode("ip", "link", "add", m, "mtu", String(mtu), "type", "veth", "peer", "name", `${m}p`, "mtu", String(mtu));
  await lab.inNode("ip", "link", "set", m, "up");
  await lab.inNode("ip", "link", "set", `${m}p`, "up");
  return m;
}

function network(version: string, extra: Record<string, unknown>, ipam = true) {
  const n = ++seq;
  const conf: Record<string, unknown> = { cniVersion: version, name: `mvnet${n}`, type: "macvlan", ...extra };
  if (ipam) conf.ipam = { type: "host-local", dataDir: data.dir, subnet: `198.19.${100 + n}.0/24` };
  return { conf, subnet: `198.19.${100 + n}` };
}
const env = (command: string, id: string, netns: string) => ({ CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: "eth0", CNI_PATH: BIN });
const nsOf = (path: string) => path.split("/").pop()!;
const reservations = (name: string) => Object.keys(data.snapshot(name)).filter((f) => /^[0-9a-f]/.test(f) && !f.startsWith("last"));
const macOf = async (ns: string | undefined, dev: string) => {
  const r = ns ? await NetLab.sh("ip", "-n", ns, "-j", "link", "show", dev) : await lab.inNode("ip", "-j", "link", "show", dev);
  return (JSON.parse(r.stdout || "[{}]")[0] as { address?: string }).address;
};

describe.each(SPEC_VERSIONS)("macvlan %s", (version) => {
  it("two pods in bridge mode reach each other, each with its own MAC; CHECK; DEL twice; DEL without the netns", async () => {
    const master = await newMaster();
    const { conf, subnet } = network(version, { master });
    const [a, b] = [await lab.addPod(`${seq}a`), await lab.addPod(`${seq}b`)];
    const ra = await lab.plugin(bin, env("ADD", `a-${version}`, a), conf);
    const rb = await lab.plugin(bin, env("ADD", `b-${version}`, b), conf);
    expect([ra.code, ra.stderr, rb.code]).toEqual([0, "", 0]);
    expect(ra.json).toMatchObject({ cniVersion: version, interfaces: [{ name: "eth0", sandbox: a }], ips: [{ address: `${subnet}.2/24`, interface: 0 }] });
    const macs = [await macOf(nsOf(a), "eth0"), await macOf(nsOf(b), "eth0"), await macOf(undefined, master)];
    expect(new Set(macs).size).toBe(3);
    expect((ra.json!.interfaces as { mac: string }[])[0].mac).toBe(macs[0]);
    expect((await NetLab.sh("ip", "netns", "exec", nsOf(a), "ping", "-c", "1", "-W", "1", `${subnet}.3`)).code).toBe(0);
    if (version >= "0.4.0") {
      const ok = await lab.plugin(bin, env("CHECK", `a-${version}`, a), { ...conf, prevResult: ra.json });
      expect([ok.code, ok.stdout]).toEqual([0, ""]);
    }
    expect((await lab.plugin(bin, env("DEL", `a-${version}`, a), conf)).code).toBe(0);
    expect((await lab.plugin(bin, env("DEL", `a-${version}`, a), conf)).code).toBe(0);
    await lab.deleteNetns(nsOf(b));
    expect((await lab.plugin(bin, env("DEL", `b-${version}`, b), conf)).code).toBe(0);
    expect((await NetLab.sh("ip", "-n", nsOf(a), "link", "show", "eth0")).code).not.toBe(0);
    expect(reservations(conf.name as string)).toEqual([]);
  });
});

describe("macvlan modes and errors", () => {
  it("private mode: siblings cannot reach each other", async () => {
    const master = await newMaster();
    const { conf, subnet } = network("1.0.0", { master, mode: "private" });
    const [a, b] = [await lab.addPod(`${seq}pa`), await lab.addPod(`${seq}pb`)];
    expect((await lab.plugin(bin, env("ADD", "pa", a), conf)).code).toBe(0);
    expect((await lab.plugin(bin, env("ADD", "pb", b), conf)).code).toBe(0);
    expect((await NetLab.sh("ip", "-n", nsOf(a), "-d", "link", "show", "eth0")).stdout).toMatch("macvlan mode private");
    expect((await NetLab.sh("ip", "netns", "exec", nsOf(a), "ping", "-c", "1", "-W", "1", `${subnet}.3`)).code).not.toBe(0);
  });

  it("passthru allows one child, and says so for a second", async () => {
    const master = await newMaster();
    const { conf } = network("1.0.0", { master, mode: "passthru" });
    const [a, b] = [await lab.addPod(`${seq}ta`), await lab.addPod(`${seq}tb`)];
    expect((await lab.plugin(bin, env("ADD", "ta", a), conf)).code).toBe(0);
    const second = await lab.plugin(bin, env("ADD", "tb", b), conf);
    expect(second.json).toMatchObject({ code: 103, msg: `macvlan passthru allows one child per master, and ${master} already has one (or cannot take one)` });
    expect(reservations(conf.name as string)).toHaveLength(1); // the second's reservation was released
  });

  it("L2 only (no ipam): the child is up without addresses", async () => {
    const master = await newMaster();
    const { conf } = network("1.0.0", { master }, false);
    const pod = await lab.addPod(`${seq}l2`);
    const r = await lab.plugin(bin, env("ADD", "l2", pod), conf);
    expect(r.code).toBe(0);
    expect(r.json!.ips).toBeUndefined();
    expect((await NetLab.sh("ip", "-n", nsOf(pod), "-br", "link", "show", "eth0")).stdout).toMatch(/^eth0@\S+\s+UP\s/m);
    expect((await NetLab.sh("ip", "-n", nsOf(pod), "-o", "addr", "show", "dev", "eth0", "scope", "global")).stdout).toBe("");
  });

  it("linkInContainer: the master lives in the pod's namespace and the child is made there", async () => {
    const pod = await lab.addPod(`${++seq}lic`);
    const ns = nsOf(pod);
    await NetLab.sh("ip", "-n", ns, "link", "add", "podmst", "type", "veth", "peer", "name", "podmstp");
    for (const l of ["podmst", "podmstp"]) await NetLab.sh("ip", "-n", ns, "link", "set", l, "up");
    const conf = { cniVersion: "1.0.0", name: `mvnet${seq}`, type: "macvlan", master: "podmst", linkInContainer: true, ipam: { type: "host-local", dataDir: data.dir, subnet: `198.19.${100 + seq}.0/24` } };
    const r = await lab.plugin(bin, env("ADD", "lic", pod), conf);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect((await NetLab.sh("ip", "-n", ns, "-d", "link", "show", "eth0")).stdout).toMatch(/eth0@podmst.*\n(.*\n)*\s+macvlan mode bridge/);
    expect((await lab.plugin(bin, env("CHECK", "lic", pod), { ...conf, prevResult: r.json })).code).toBe(0);
    expect((await lab.plugin(bin, env("DEL", "lic", pod), conf)).code).toBe(0);
    expect((await NetLab.sh("ip", "-n", ns, "link", "show", "eth0")).code).not.toBe(0);
    const missing = await lab.plugin(bin, env("ADD", "lic2", pod), { ...conf, master: "nosuch" });
    expect(missing.json).toMatchObject({ code: 7, msg: `master: "nosuch" does not exist in the pod's namespace` });
  });

  it("without master, the interface of the default route is used", async () => {
    const master = await newMaster();
    await lab.inNode("ip", "addr", "add", "192.0.2.1/24", "dev", master);
    await lab.inNode("ip", "route", "add", "default", "via", "192.0.2.254", "dev", master);
    const { conf } = network("1.0.0", {});
    const pod = await lab.addPod(`${seq}dm`);
    expect((await lab.plugin(bin, env("ADD", "dm", pod), conf)).code).toBe(0);
    expect((await NetLab.sh("ip", "-n", nsOf(pod), "link", "show", "eth0")).stdout).toMatch(/eth0@if\d+/);
    await lab.inNode("ip", "route", "del", "default");
  });

  it.each([
    [{ mode: "l2" }, 7, 'mode: must be one of ["bridge","private","vepa","passthru"], got "l2"'],
    [{ master: "nosuchlink" }, 7, 'master: "nosuchlink" does not exist'],
    [{ mtu: 9000 }, 7, "mtu: 9000 is above the MTU of master"],
    [{ flavour: 1 }, 2, "flavour: unsupported key (value 1)"],
  ])("%j gets code %i and changes nothing", async (extra, code, msg) => {
    const master = await newMaster();
    const { conf } = network("1.0.0", { master, ...extra });
    const pod = await lab.addPod(`${seq}x`);
    const r = await lab.plugin(bin, env("ADD", "x", pod), conf);
    expect(r.json).toMatchObject({ code, msg: expect.stringContaining(msg) });
    expect((await NetLab.sh("ip", "-n", nsOf(pod), "link", "show", "eth0")).code).not.toBe(0);
    expect(reservations(conf.name as string)).toEqual([]);
  });
});
