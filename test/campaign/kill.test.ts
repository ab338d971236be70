import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tempDataDir } from "../../plugins/host-local/test-helpers";
import { haveBinaries, isRoot, runId, testIf } from "../integration/helpers";
import { NetLab } from "../integration/netlab";
import { ServerProcess } from "../integration/server-process";
import { recordFigure } from "./figures";
import { killCases } from "./kill/cases";
import { KillDriver, Problems } from "./kill/driver";
import { snapshot } from "./kill/snapshot";
import { KillSteps } from "./kill/steps";

// Kill -9 at every step of ADD and DEL, for each interface plugin: the plugin SIGKILLs itself at
// a fault point (shared/kernel/fault-point.ts: after IPAM, before and after each kernel batch),
// then the runtime's DEL must leave the node, the pod and the IPAM store as they were before the
// ADD (shared objects aside: the bridge, the nft table), and a repeated ADD must work and its
// DEL clean up. The steps are not counted by hand: batch N is killed for N = 1, 2, ... until a
// call given N completes, which means the plan has fewer batches.
const it = testIf(isRoot && haveBinaries, "needs root and the built binaries (npm run build)");
const rid = runId();
const lab = new NetLab(rid);
const MASTER = `${rid}m`;
const data = tempDataDir("pc-kill-");
const serverDir = mkdtempSync(join(tmpdir(), "pc-kill-"));
let server: ServerProcess | undefined;
let driver: KillDriver;
let steps: KillSteps;
const cases = killCases(rid, data.dir, MASTER);
/** The batches of a clean ADD and DEL per case, counted in their trace. */
const traced = new Map<string, { add: number; del: number }>();
const started = Date.now();

beforeAll(async () => {
  if (!isRoot || !haveBinaries) return;
  await lab.create();
  // macvlan's master: one end of a veth pair inside the node namespace, never a real NIC.
  await lab.inNode("ip", "link", "add", MASTER, "type", "veth", "peer", "name", `${MASTER}p`);
  await lab.inNode("ip", "link", "set", MASTER, "up");
  await lab.inNode("ip", "link", "set", `${MASTER}p`, "up");
  server = new ServerProcess(join(serverDir, "cni.sock"), lab.node);
  await server.ready();
  driver = new KillDriver(lab, data.dir, join(serverDir, "cni.sock"));
  steps = new KillSteps(driver, lab);
}, 30_000);

afterAll(async () => {
  if (server) {
    server.kill("SIGTERM");
    await server.exited;
  }
  await lab.destroy();
  data.remove();
  rmSync(serverDir, { recursive: true, force: true });
  for (const [name, n] of steps?.kills ?? []) recordFigure({ suite: "kill", what: `${name}: kills`, value: n, unit: "kills" });
  if (steps?.kills.size) recordFigure({ suite: "kill", what: "suite duration", value: Date.now() - started, unit: "ms" });
});

describe("kill -9 at every step", () => {
  for (const c of cases) {
    it(`${c.name}: ADD killed after IPAM and before and after every kernel batch; the runtime's DEL leaves nothing`, async () => {
      const problems: Problems = [];
      traced.set(c.name, await driver.tracedBatches(c));
      expect(await steps.addStep(c, "kill:after-ipam", "exec", problems)).toBe(false);
      const batches = await steps.everyBatch("ADD", c, problems);
      // eslint-disable-next-line no-console
      console.log(`${c.name}: ADD has ${batches} kernel batches (its trace: ${traced.get(c.name)!.add}); ${steps.kills.get(c.name)} kills`);
      expect(batches).toBeGreaterThan(0);
      expect(batches).toBe(traced.get(c.name)!.add);
      // A runtime that removes the pod's netns before its DEL: after the first and after the last batch.
      for (const fault of ["kill:after-batch:1", `kill:after-batch:${batches}`]) {
        expect(await steps.addStep(c, fault, "exec", problems, true)).toBe(false);
      }
      expect(problems).toEqual([]);
    }, 60_000);

    it(`${c.name}: DEL killed before and after every kernel batch; the next DEL leaves nothing`, async () => {
      const problems: Problems = [];
      const batches = await steps.everyBatch("DEL", c, problems);
      // eslint-disable-next-line no-console
      console.log(`${c.name}: DEL has ${batches} kernel batches (its trace: ${traced.get(c.name)?.del})`);
      expect(batches).toBeGreaterThan(0);
      if (traced.has(c.name)) expect(batches).toBe(traced.get(c.name)!.del);
      expect(problems).toEqual([]);
    }, 60_000);
  }

  // The checker itself: an attachment that is not deleted must show in the snapshot's difference
  // (its veth, pod address, nft elements or iptables chain, reservation), else no step could fail.
  it("the snapshot sees what an attachment leaves: an ADD without its DEL is reported", async () => {
    for (const c of [cases[1], cases[3]]) {
      await driver.reset(c);
      const pod = await driver.newPod();
      try {
        const w = driver.where(c, pod.ns);
        const before = await snapshot(w);
        const add = await driver.call(c, "ADD", pod.id, pod.path);
        expect(add.code).toBe(0);
        const left = (await driver.leftovers(c, w, before, "ADD without DEL")).join("\n");
        const ip = ((add.json!.ips as { address: string }[])[0].address).split("/")[0];
        expect(left).toContain(`pod addr eth0 ${ip}/`);
        expect(left).toMatch(/node link veth[0-9a-f]{11} kind=veth/);
        expect(left).toContain(`store ${c.conf.name}/${ip} `);
        expect(left).toMatch(c.iptables ? /node iptables-save -A POSTROUTING .* -j PC-MASQ-/ : /node nft element inet patchcord masq_pods4 /);
        expect((await driver.call(c, "DEL", pod.id, pod.path, { prevResult: add.json })).code).toBe(0);
        expect(await driver.leftovers(c, w, before, "after DEL")).toEqual([]);
      } finally {
        await lab.deleteNetns(pod.ns);
      }
    }
  }, 20_000);

  // Regression (found by this campaign): an ADD killed right after it created the bridge, before
  // turning router advertisements off on it, left a bridge with accept_ra=1 that later ADDs reused.
  it("a bridge made by an ADD killed right after creating it gets accept_ra=0 from the next ADD", async () => {
    const problems: Problems = [];
    expect(await steps.addStep(cases[0], "kill:after-batch:1", "exec", problems)).toBe(false);
    expect(problems).toEqual([]);
  }, 20_000);

  // In server mode the fault is the server's own environment (a caller's PATCHCORD_FAULT is not
  // read there): a dedicated server dies at the step, the shim answers code 11.
  it("server mode: a server killed mid-ADD or mid-DEL (the shim answers code 11); the next DEL leaves nothing", async () => {
    const problems: Problems = [];
    const masq = cases.find((c) => c.name === "bridge ipMasq macspoofchk")!;
    const routed = cases.find((c) => c.name === "veth-routed ipMasq (iptables, dual-stack)")!;
    for (const [c, fault] of [
      [masq, "kill:after-ipam"],
      [masq, "kill:after-batch:3"],
      [routed, "kill:before-batch:2"],
    ] as const) {
      expect(await steps.addStep(c, fault, "server", problems)).toBe(false);
    }
    expect(await steps.delStep(masq, "kill:after-batch:1", "server", problems)).toBe(false);
    expect(problems).toEqual([]);
  }, 60_000);

  // A caller cannot make the resident server kill itself: PATCHCORD_FAULT in a call's environment
  // is the call's, and the server reads only its own.
  it("a caller's PATCHCORD_FAULT does not kill the resident server", async () => {
    const c = cases[0];
    const pod = await driver.newPod();
    try {
      const add = await driver.call(c, "ADD", pod.id, pod.path, { socket: join(serverDir, "cni.sock"), fault: "kill:after-ipam" });
      expect([add.code, add.signal]).toEqual([0, null]);
      expect(() => process.kill(server!.pid, 0)).not.toThrow(); // still serving
      expect((await driver.call(c, "DEL", pod.id, pod.path, { prevResult: add.json })).code).toBe(0);
    } finally {
      await lab.deleteNetns(pod.ns);
    }
  }, 20_000);

  // ipvlan needs the ipvlan module, which this kernel does not have: its kill test runs in a guest
  // kernel (test/kernel-features/ipvlan-kill.test.ts), as npm test runs that folder.
});
