import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { haveBinaries, isRoot, runId, testIf } from "./helpers";
import { haveCnitool, inRange, MULTUS_DIR, multusNodePerFile, onTestNode, readNad } from "./multus-nad";
import { NetLab } from "./netlab";

// The NetworkAttachmentDefinitions of manifests/multus, run the way Multus runs a secondary network:
// libcni (dist/cnitool) with the NAD's spec.config, the interface named net1, the plugins under
// their installed names. The master is a veth of this test's own inside a throwaway node namespace
// (never the host's eth0); the macvlan one runs here, the ipvlan one in a guest kernel
// (test/kernel-features/multus-ipvlan.test.ts), as this kernel has no ipvlan.
const it = testIf(isRoot && haveBinaries && haveCnitool, "needs root, the built binaries (npm run build) and dist/cnitool (conformance/cnitool/build.sh)");
const lab = new NetLab(runId());
const multus = multusNodePerFile(lab, isRoot);

describe("manifests/multus", () => {
  test("each file is a NetworkAttachmentDefinition of a patchcord plugin with patchcord's host-local, and the pod example names one", () => {
    for (const [file, type] of [["macvlan.yaml", "patchcord-macvlan"], ["ipvlan.yaml", "patchcord-ipvlan"]]) {
      const { name, config } = readNad(file);
      expect(config.name).toBe(name);
      expect(config.plugins).toHaveLength(1);
      expect(config.plugins[0]).toMatchObject({ type, master: "eth0", ipam: { type: "patchcord-host-local", ranges: [[{ subnet: expect.any(String) }]] } });
    }
    const pod = parse(readFileSync(join(MULTUS_DIR, "pod.yaml"), "utf8")) as { kind: string; metadata: { annotations: Record<string, string> } };
    expect(pod.kind).toBe("Pod");
    expect(pod.metadata.annotations["k8s.v1.cni.cncf.io/networks"]).toBe(readNad("macvlan.yaml").name);
  });

  it("macvlan.yaml: two pods get net1 with an address of the range and reach each other; DEL leaves nothing", async () => {
    const node = multus.node();
    const { name, config } = readNad("macvlan.yaml");
    await lab.inNode("ip", "link", "add", "mst0", "type", "veth", "peer", "name", "mst0p");
    for (const l of ["mst0", "mst0p"]) await lab.inNode("ip", "link", "set", l, "up");
    node.writeConflist(onTestNode(config, "mst0", node.dataDir));
    const range = config.plugins[0].ipam!.ranges![0][0];

    const pods = [await lab.addPod("a"), await lab.addPod("b")];
    const addresses: string[] = [];
    for (const pod of pods) {
      const r = await node.cnitool("add", name, pod);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(r.json).toMatchObject({ cniVersion: config.cniVersion, interfaces: [{ name: "net1", sandbox: pod }], ips: [{ interface: 0 }] });
      const address = (r.json!.ips as { address: string }[])[0].address;
      expect(inRange(address, range)).toBe(true);
      const link = await NetLab.sh("ip", "-n", pod.split("/").pop()!, "-d", "-j", "addr", "show", "dev", "net1");
      const [info] = JSON.parse(link.stdout) as { operstate: string; linkinfo: { info_kind: string; info_data: { mode: string } }; addr_info: { family: string; local: string; prefixlen: number }[] }[];
      expect(info.linkinfo).toMatchObject({ info_kind: "macvlan", info_data: { mode: "bridge" } });
      expect(info.addr_info.filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`)).toEqual([address]);
      addresses.push(address.split("/")[0]);
    }
    expect(node.reservations(name).sort()).toEqual([...addresses].sort());
    expect(node.cachedResults()).toHaveLength(2);
    expect(await lab.ping(pods[0].split("/").pop()!, addresses[1])).toBe(true);

    for (const pod of pods) {
      expect((await node.cnitool("del", name, pod)).code).toBe(0);
      expect((await node.cnitool("del", name, pod)).code).toBe(0); // a second DEL, as kubelets send
      expect((await NetLab.sh("ip", "-n", pod.split("/").pop()!, "link", "show", "net1")).code).not.toBe(0);
    }
    expect(node.reservations(name)).toEqual([]);
    expect(node.cachedResults()).toEqual([]);
    expect((await lab.inNode("ip", "-o", "link", "show", "type", "macvlan")).stdout).toBe("");
  });
});
