import { haveBinaries, isRoot, runId, testIf } from "../integration/helpers";
import { haveCnitool, inRange, multusNodePerFile, onTestNode, readNad } from "../integration/multus-nad";
import { NetLab } from "../integration/netlab";

// manifests/multus/ipvlan.yaml the way Multus runs it (libcni, net1, patchcord-* names), in a guest
// kernel with ipvlan (npm test runs test/kernel-features there); the master is a dummy link in a
// throwaway node namespace. The macvlan one is in test/integration/multus.test.ts.
const it = testIf(isRoot && haveBinaries && haveCnitool, "needs root, the built binaries and dist/cnitool");
const lab = new NetLab(runId());
const multus = multusNodePerFile(lab, isRoot);

it("ipvlan.yaml: a pod gets net1 (l2, the master's MAC) with an address of the range; DEL leaves nothing", async () => {
  const node = multus.node();
  const { name, config } = readNad("ipvlan.yaml");
  await lab.inNode("ip", "link", "add", "dm0", "type", "dummy");
  await lab.inNode("ip", "link", "set", "dm0", "up");
  node.writeConflist(onTestNode(config, "dm0", node.dataDir));
  const pod = await lab.addPod("a");
  const ns = pod.split("/").pop()!;

  const r = await node.cnitool("add", name, pod);
  expect([r.code, r.stderr]).toEqual([0, ""]);
  expect(r.json).toMatchObject({ interfaces: [{ name: "net1", sandbox: pod }], ips: [{ interface: 0 }] });
  const address = (r.json!.ips as { address: string }[])[0].address;
  expect(inRange(address, config.plugins[0].ipam!.ranges![0][0])).toBe(true);
  const [inPod] = JSON.parse((await NetLab.sh("ip", "-n", ns, "-d", "-j", "addr", "show", "dev", "net1")).stdout) as {
    address: string;
    linkinfo: { info_kind: string; info_data: { mode: string } };
    addr_info: { family: string; local: string; prefixlen: number }[];
  }[];
  const [master] = JSON.parse((await lab.inNode("ip", "-j", "link", "show", "dm0")).stdout) as { address: string }[];
  expect(inPod.linkinfo).toMatchObject({ info_kind: "ipvlan", info_data: { mode: "l2" } });
  expect(inPod.address).toBe(master.address);
  expect(inPod.addr_info.filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`)).toEqual([address]);

  expect((await node.cnitool("del", name, pod)).code).toBe(0);
  expect((await node.cnitool("del", name, pod)).code).toBe(0);
  expect((await NetLab.sh("ip", "-n", ns, "link", "show", "net1")).code).not.toBe(0);
  expect(node.reservations(name)).toEqual([]);
  expect(node.cachedResults()).toEqual([]);
});
