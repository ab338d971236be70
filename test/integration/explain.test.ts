import { join } from "node:path";
import { readFileSync, writeFileSync } from "node:fs";
import { tempDataDir } from "../../plugins/host-local/test-helpers";
import { hostVethName } from "../../shared/plugin/veth";
import { runCommand } from "../../shared/kernel/run";
import { BIN, haveBinaries, isRoot, runId, testIf } from "./helpers";
import { linkState, routes, sysctl } from "./kernel-state";
import { NetLab } from "./netlab";

// `patchcord explain` against the plugins themselves: the explained script, run by hand (sh) in a
// fresh node, must leave the kernel as the plugin leaves it in another fresh node; and its
// commands must be the ones a real run traces (PATCHCORD_TRACE).
const it = testIf(isRoot && haveBinaries, "needs root and the built binaries (npm run build)");
const rid = runId();
const labs = { script: new NetLab(`${rid}s`), plugin: new NetLab(`${rid}p`) };
let data: ReturnType<typeof tempDataDir>;
const patchcord = join(BIN, "patchcord");

beforeAll(async () => {
  data = tempDataDir("pc-ex-");
  if (isRoot) for (const lab of Object.values(labs)) await lab.create();
});
afterAll(async () => {
  for (const lab of Object.values(labs)) await lab.destroy();
  data.remove();
});

const commands = (lines: string[], pod: string) =>
  lines
    .filter((l) => l !== "" && !l.startsWith("#") && l !== "set -e")
    .map((l) => l.replace(/([0-9a-f]{2}:){5}[0-9a-f]{2}/g, "<mac>").split(`/run/netns/${pod}`).join("<pod>"));

const cases = [
  {
    id: "br",
    name: "bridge with gateway, default route and ipMasq",
    plugins: (dir: string) => [{ type: "bridge", bridge: "exbr0", isGateway: true, isDefaultGateway: true, ipMasq: true, ipam: { type: "host-local", dataDir: dir, ranges: [[{ subnet: "198.18.70.0/24" }]] } }],
    hostLinks: ["exbr0", hostVethName("ctr-br", "eth0")],
  },
  {
    id: "rt",
    name: "veth-routed, dual-stack",
    plugins: (dir: string) => [{ type: "veth-routed", ipam: { type: "host-local", dataDir: dir, ranges: [[{ subnet: "198.18.71.0/24" }], [{ subnet: "fd00:71::/64" }]] } }],
    hostLinks: [hostVethName("ctr-rt", "eth0")],
  },
  {
    id: "mv",
    name: "macvlan in bridge mode on a veth master",
    plugins: (dir: string) => [{ type: "macvlan", master: "exmst0", mode: "bridge", mtu: 1400, ipam: { type: "host-local", dataDir: dir, ranges: [[{ subnet: "198.18.72.0/24" }]] } }],
    hostLinks: ["exmst0"],
    prepare: async (lab: NetLab) => {
      await lab.inNode("ip", "link", "add", "exmst0", "type", "veth", "peer", "name", "exmst1");
      for (const l of ["exmst0", "exmst1"]) await lab.inNode("ip", "link", "set", l, "up");
    },
  },
];

describe("patchcord explain", () => {
  for (const c of cases) {
    it(`${c.name}: the explained script gives the plugin's kernel state, and the plugin's trace has its commands`, async () => {
      const seen: Record<string, unknown> = {};
      const scripts: Record<string, string[]> = {};
      for (const [how, lab] of Object.entries(labs)) {
        await c.prepare?.(lab);
        const pod = await lab.addPod(c.id);
        const podNs = pod.split("/").pop()!;
        const conflist = data.dir + `/${how}-${c.id}.conflist`;
        writeFileSync(conflist, JSON.stringify({ cniVersion: "1.1.0", name: "ex", plugins: c.plugins(join(data.dir, `${how}-${c.id}`)) }));
        if (how === "script") {
          const ex = await runCommand(["ip", "netns", "exec", lab.node, patchcord, "explain", conflist, "--netns", pod, "--container-id", `ctr-${c.id}`]);
          expect([ex.code, ex.stderr]).toEqual([0, ""]);
          scripts.script = commands(ex.stdout.split("\n"), podNs);
          const ran = await runCommand(["ip", "netns", "exec", lab.node, "sh"], ex.stdout);
          expect([ran.code, ran.stderr]).toEqual([0, ""]);
        } else {
          const trace = join(data.dir, `trace-${c.id}.sh`);
          const conf = { cniVersion: "1.1.0", name: "ex", ...c.plugins(join(data.dir, `${how}-${c.id}`))[0] };
          const add = await lab.plugin(join(BIN, String(conf.type)), { CNI_COMMAND: "ADD", CNI_CONTAINERID: `ctr-${c.id}`, CNI_NETNS: pod, CNI_IFNAME: "eth0", CNI_PATH: BIN, PATCHCORD_TRACE: trace }, conf);
          expect([add.code, add.stderr]).toEqual([0, ""]);
          scripts.plugin = commands(readFileSync(trace, "utf8").split("\n"), podNs);
        }
        const masq = await lab.inNode("nft", "list", "set", "inet", "patchcord", "masq_pods4");
        seen[how] = {
          pod: await linkState(podNs, "eth0"),
          podRoutes: await routes(podNs),
          podArpNotify: await sysctl(podNs, "net/ipv4/conf/eth0/arp_notify"),
          host: await Promise.all(c.hostLinks.map((l) => linkState(lab.node, l))),
          hostRoutes: await Promise.all(c.hostLinks.map((l) => routes(lab.node, l))),
          forwarding: await sysctl(lab.node, "net/ipv4/ip_forward"),
          masqueraded: [...masq.stdout.matchAll(/(\d+\.\d+\.\d+\.\d+) comment "([^"]+)"/g)].map((m) => `${m[1]} ${m[2]}`),
        };
      }
      expect((seen.plugin as { pod: unknown }).pod).toBeDefined();
      expect(seen.script).toEqual(seen.plugin);
      // The trace may add the nft declarations only when the table was missing; here it was.
      expect(scripts.plugin).toEqual(scripts.script);

      // DEL explained and run by hand takes the pod's interface (and, with it, the pair) away.
      const lab = labs.script;
      const pod = `/run/netns/${rid}s${c.id}`;
      const ex = await runCommand(["ip", "netns", "exec", lab.node, patchcord, "explain", data.dir + `/script-${c.id}.conflist`, "--command", "DEL", "--netns", pod, "--container-id", `ctr-${c.id}`]);
      expect(ex.code).toBe(0);
      await runCommand(["ip", "netns", "exec", lab.node, "sh"], ex.stdout);
      expect(await linkState(pod.split("/").pop()!, "eth0")).toBeUndefined();
      if (c.hostLinks.includes(hostVethName(`ctr-${c.id}`, "eth0"))) expect(await linkState(lab.node, hostVethName(`ctr-${c.id}`, "eth0"))).toBeUndefined();
    });
  }
});
