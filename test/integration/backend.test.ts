import { join } from "node:path";
import { tempDataDir } from "../../plugins/host-local/test-helpers";
import { hostVethName } from "../../shared/plugin/veth";
import { findExecutable } from "../../shared/kernel/which";
import { BIN, EXEC_MODE, execPlugin, haveBinaries, isRoot, runId, testIf } from "./helpers";
import { NetLab } from "./netlab";
import { linkState, routes, sysctl } from "./kernel-state";

// The two ways a plan reaches the kernel: in-process rtnetlink (the compiled binary's default) and
// `ip -batch` / `nsenter` processes (PATCHCORD_FFI=0, which is also what the Node fallback does).
// Each case runs the same config in two throwaway nodes, one per backend, and compares the kernel.
const it = testIf(isRoot && haveBinaries, "needs root and the built binaries (npm run build)");
const rid = runId();
const labs = { netlink: new NetLab(`${rid}n`), processes: new NetLab(`${rid}p`) };
type Backend = keyof typeof labs;
const backendEnv: Record<Backend, Record<string, string>> = { netlink: {}, processes: { PATCHCORD_FFI: "0", ...EXEC_MODE } };
let data: ReturnType<typeof tempDataDir>;
const ip = findExecutable("ip") ?? "ip";

beforeAll(async () => {
  data = tempDataDir("pc-be-");
  if (isRoot) for (const lab of Object.values(labs)) await lab.create();
});
afterAll(async () => {
  for (const lab of Object.values(labs)) await lab.destroy();
  data.remove();
});

const env = (command: string, netns: string, extra: Record<string, string> = {}) => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: "ctr-be",
  CNI_NETNS: netns,
  CNI_IFNAME: "eth0",
  CNI_PATH: BIN,
  ...extra,
});

interface Case {
  name: string;
  conf: (dataDir: string) => Record<string, unknown>;
  /** Links in the node namespace to compare. */
  hostLinks: string[];
  /** Prepares the node (e.g. a macvlan master). */
  prepare?: (lab: NetLab) => Promise<void>;
  podSysctls: string[];
  hostSysctls: string[];
}

const port = hostVethName("ctr-be", "eth0");
const dualStack = (dataDir: string, third: number) => ({
  type: "host-local",
  dataDir,
  ranges: [[{ subnet: `198.18.${third}.0/24` }], [{ subnet: `fd00:${third}::/64` }]],
  routes: [{ dst: "192.0.2.0/24" }],
});

const cases: Case[] = [
  {
    name: "bridge (gateway, default route, hairpin, MTU, dual-stack)",
    conf: (dir) => ({ cniVersion: "1.1.0", name: "be-br", type: "bridge", bridge: "bebr0", isGateway: true, isDefaultGateway: true, hairpinMode: true, mtu: 1400, ipam: dualStack(dir, 60) }),
    hostLinks: ["bebr0", port],
    podSysctls: ["net/ipv4/conf/eth0/arp_notify", "net/ipv6/conf/eth0/accept_dad"],
    hostSysctls: ["net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding", `net/ipv6/conf/${port}/accept_ra`],
  },
  {
    name: "veth-routed (dual-stack, return routes)",
    conf: (dir) => ({ cniVersion: "1.1.0", name: "be-rt", type: "veth-routed", mtu: 1450, ipam: dualStack(dir, 61) }),
    hostLinks: [port],
    podSysctls: [],
    hostSysctls: ["net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"],
  },
  {
    name: "macvlan (private mode on a veth master)",
    conf: (dir) => ({ cniVersion: "1.1.0", name: "be-mv", type: "macvlan", master: "bemst0", mode: "private", mtu: 1400, ipam: dualStack(dir, 62) }),
    hostLinks: ["bemst0"],
    prepare: async (lab) => {
      await lab.inNode("ip", "link", "add", "bemst0", "type", "veth", "peer", "name", "bemst1");
      await lab.inNode("ip", "link", "set", "bemst0", "up");
      await lab.inNode("ip", "link", "set", "bemst1", "up");
    },
    podSysctls: [],
    hostSysctls: [],
  },
];

describe("in-process rtnetlink and ip processes leave the same kernel state", () => {
  for (const c of cases) {
    it(c.name, async () => {
      const seen: Record<string, unknown> = {};
      for (const backend of Object.keys(labs) as Backend[]) {
        const lab = labs[backend];
        await c.prepare?.(lab);
        const pod = await lab.addPod(`${c.name.split(" ")[0]}`);
        const podNs = pod.split("/").pop()!;
        const conf = c.conf(data.dir + `/${backend}`);
        const add = await lab.plugin(join(BIN, String(conf.type)), env("ADD", pod, backendEnv[backend]), conf);
        expect([backend, add.code, add.stderr]).toEqual([backend, 0, ""]);
        const state = {
          pod: await linkState(podNs, "eth0"),
          podRoutes: await routes(podNs),
          podSysctls: await Promise.all(c.podSysctls.map((k) => sysctl(podNs, k))),
          host: await Promise.all(c.hostLinks.map((l) => linkState(lab.node, l))),
          hostRoutes: await Promise.all(c.hostLinks.map((l) => routes(lab.node, l))),
          hostSysctls: await Promise.all(c.hostSysctls.map((k) => sysctl(lab.node, k))),
        };
        seen[backend] = state;
        const check = await lab.plugin(join(BIN, String(conf.type)), env("CHECK", pod, backendEnv[backend]), { ...conf, prevResult: add.json });
        expect([backend, check.code, check.stdout]).toEqual([backend, 0, ""]);
        const del = await lab.plugin(join(BIN, String(conf.type)), env("DEL", pod, backendEnv[backend]), conf);
        expect([backend, del.code, del.stdout]).toEqual([backend, 0, ""]);
        expect(await linkState(podNs, "eth0")).toBeUndefined();
        if (c.hostLinks.includes(port)) expect(await linkState(lab.node, port)).toBeUndefined();
      }
      expect((seen.netlink as { pod: unknown }).pod).toBeDefined();
      expect(seen.netlink).toEqual(seen.processes);
    });
  }
});

describe("the in-process backend needs no ip or nsenter executable", () => {
  it("bridge ADD and DEL with an empty PATH succeed in-process, and fail cleanly when processes are forced", async () => {
    const lab = labs.netlink;
    const pod = await lab.addPod("nopath");
    const conf = { cniVersion: "1.0.0", name: "be-np", type: "bridge", bridge: "benp0", isGateway: true, ipam: { type: "host-local", dataDir: data.dir, ranges: [[{ subnet: "198.18.63.0/24" }]] } };
    const run = (command: string, extra: Record<string, string> = {}) => execPlugin(join(BIN, "bridge"), env(command, pod, { PATH: "/nonexistent", ...extra }), conf, [ip, "netns", "exec", lab.node]);
    const add = await run("ADD");
    expect([add.code, add.stderr]).toEqual([0, ""]);
    expect(await linkState(pod.split("/").pop()!, "eth0")).toMatchObject({ up: true, addresses: ["198.18.63.2/24 global"] });
    expect((await run("DEL")).code).toBe(0);
    expect(await linkState(lab.node, port)).toBeUndefined();
    // The same without the in-process backend needs `ip`: a clean failure that says so.
    const forced = await run("ADD", { PATCHCORD_FFI: "0", ...EXEC_MODE });
    expect(forced.code).toBe(1);
    expect(forced.json).toMatchObject({ msg: expect.stringContaining("ip") });
    expect(await linkState(pod.split("/").pop()!, "eth0")).toBeUndefined();
    expect(Object.keys(data.snapshot("be-np")).filter((f) => /^\d/.test(f))).toEqual([]);
  });
});
