import { join } from "node:path";
import { tempDataDir } from "../../plugins/host-local/test-helpers";
import { hostVethName } from "../../plugins/bridge/plan";
import { BIN, haveBinaries, isRoot, runId, testIf } from "../integration/helpers";
import { NetLab } from "../integration/netlab";

// Bridge VLANs need CONFIG_BRIDGE_VLAN_FILTERING, which the CI kernel lacks: `npm test` runs this
// file inside a guest kernel that has it (scripts/kernel-run.sh: User-Mode Linux, else a QEMU VM).
const it = testIf(isRoot && haveBinaries, "needs root and the built binaries");
const rid = runId();
const lab = new NetLab(rid);
const bridgeBin = join(BIN, "bridge");
let data: ReturnType<typeof tempDataDir>;

beforeAll(async () => {
  data = tempDataDir("pc-vlan-");
  if (isRoot) await lab.create();
});
afterAll(async () => {
  await lab.destroy();
  data.remove();
});

const conf = (name: string, extra: Record<string, unknown>) => ({
  cniVersion: "1.0.0",
  name,
  type: "bridge",
  bridge: `${rid}${name}`,
  ...extra,
  ipam: { type: "host-local", dataDir: data.dir, subnet: "198.18.200.0/24" },
});
const env = (command: string, id: string, netns: string) => ({ CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: "eth0", CNI_PATH: BIN });
type VlanShow = { ifname: string; vlans: { vlan: number; flags?: string[] }[] }[];

it("vlan and vlanTrunk tag the pod's port, with VLAN filtering on the bridge", async () => {
  const c = conf("v1", { vlan: 100, vlanTrunk: [{ id: 200 }, { minID: 300, maxID: 301 }] });
  const pod = await lab.addPod("v1");
  const r = await lab.plugin(bridgeBin, env("ADD", "vlan", pod), c);
  expect([r.code, r.stderr]).toEqual([0, ""]);
  const vlans = await lab.nodeJson<VlanShow>("bridge", "-j", "vlan", "show", "dev", hostVethName("vlan", "eth0"));
  expect(vlans[0].vlans).toEqual([{ vlan: 100, flags: ["PVID", "Egress Untagged"] }, { vlan: 200 }, { vlan: 300 }, { vlan: 301 }]);
  expect((await lab.inNode("ip", "-d", "link", "show", c.bridge)).stdout).toMatch(/vlan_filtering 1/);
  expect((await lab.plugin(bridgeBin, env("DEL", "vlan", pod), c)).code).toBe(0);
});

it("two pods in the same access VLAN reach each other; a pod in another VLAN does not", async () => {
  const subnetConf = (vlan: number) => ({ ...conf("v2", { vlan }), ipam: { type: "host-local", dataDir: data.dir, subnet: "198.18.201.0/24" } });
  const [a, b, c] = await Promise.all(["v2a", "v2b", "v2c"].map((p) => lab.addPod(p)));
  const ra = await lab.plugin(bridgeBin, env("ADD", "va", a), subnetConf(10));
  const rb = await lab.plugin(bridgeBin, env("ADD", "vb", b), subnetConf(10));
  const rc = await lab.plugin(bridgeBin, env("ADD", "vc", c), subnetConf(20));
  expect([ra.code, rb.code, rc.code]).toEqual([0, 0, 0]);
  const addr = (r: typeof ra) => (r.json!.ips as { address: string }[])[0].address.split("/")[0];
  expect(await lab.ping(a.split("/").pop()!, addr(rb))).toBe(true);
  expect(await lab.ping(a.split("/").pop()!, addr(rc))).toBe(false);
});

it("preserveDefaultVlan keeps VLAN 1 on the port", async () => {
  const c = conf("v3", { vlanTrunk: [{ id: 5 }], preserveDefaultVlan: true });
  const pod = await lab.addPod("v3");
  expect((await lab.plugin(bridgeBin, env("ADD", "keep", pod), c)).code).toBe(0);
  const vlans = await lab.nodeJson<VlanShow>("bridge", "-j", "vlan", "show", "dev", hostVethName("keep", "eth0"));
  expect(vlans[0].vlans.map((v) => v.vlan)).toEqual([1, 5]);
});

it("isGateway with vlan puts the gateway on <bridge>.<vlan>, a veth into the VLAN, which pods in the VLAN reach", async () => {
  const c = { ...conf("v4", { vlan: 30, isGateway: true }), ipam: { type: "host-local", dataDir: data.dir, subnet: "198.18.202.0/24" } };
  const [a, b] = await Promise.all(["v4a", "v4b"].map((p) => lab.addPod(p)));
  const ra = await lab.plugin(bridgeBin, env("ADD", "gwa", a), c);
  const rb = await lab.plugin(bridgeBin, env("ADD", "gwb", b), c);
  expect([ra.code, ra.stderr, rb.code]).toEqual([0, "", 0]);
  const gw = `${c.bridge}.30`;
  expect((ra.json!.interfaces as { name: string }[]).map((i) => i.name)).toEqual([c.bridge, hostVethName("gwa", "eth0"), "eth0", gw]);
  expect((await lab.inNode("ip", "-br", "addr", "show", "dev", gw)).stdout).toMatch("198.18.202.1/24");
  expect(await lab.ping(a.split("/").pop()!, "198.18.202.1")).toBe(true);
  expect(await lab.ping(b.split("/").pop()!, "198.18.202.2")).toBe(true);
  expect((await lab.plugin(bridgeBin, env("DEL", "gwa", a), c)).code).toBe(0);
  expect((await lab.inNode("ip", "link", "show", gw)).code).toBe(0); // stays for the other pods
});
