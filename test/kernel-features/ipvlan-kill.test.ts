import { tempDataDir } from "../../plugins/host-local/test-helpers";
import { haveBinaries, isRoot, runId, testIf } from "../integration/helpers";
import { NetLab } from "../integration/netlab";
import { recordFigure } from "../campaign/figures";
import { ipvlanKillCase } from "../campaign/kill/cases";
import { KillDriver, Problems } from "../campaign/kill/driver";
import { KillSteps } from "../campaign/kill/steps";

// The kill -9 campaign (test/campaign/kill.test.ts) for ipvlan, which needs a kernel with the
// ipvlan module: `npm test` runs this file in a guest kernel. Every call runs in exec mode (no
// resident server in the guest); the master is a dummy link in the node namespace.
const it = testIf(isRoot && haveBinaries, "needs root and the built binaries (npm run build)");
const rid = runId();
const lab = new NetLab(rid);
const MASTER = `${rid}d`;
const data = tempDataDir("pc-kill-ipvlan-");
const steps = new KillSteps(new KillDriver(lab, data.dir, "/nonexistent/patchcord-exec-mode.sock"), lab);

beforeAll(async () => {
  if (!isRoot || !haveBinaries) return;
  await lab.create();
  await lab.inNode("ip", "link", "add", MASTER, "type", "dummy");
  await lab.inNode("ip", "link", "set", MASTER, "up");
}, 30_000);

afterAll(async () => {
  await lab.destroy();
  data.remove();
  for (const [name, n] of steps.kills) recordFigure({ suite: "kill", what: `${name}: kills (guest kernel)`, value: n, unit: "kills" });
});

// A process start costs tens of milliseconds in the guest kernel, so this is the short form of the
// campaign: l2 only (l3 has the same plan but its mode), ADD killed after IPAM and after every
// kernel batch (before batch N+1 is the same kernel state), DEL killed after its batch.
describe("kill -9 at every step: ipvlan", () => {
  const c = ipvlanKillCase(data.dir, MASTER);
  it(`${c.name}: ADD killed after IPAM and after every kernel batch, DEL after its batch; the runtime's DEL leaves nothing`, async () => {
    const problems: Problems = [];
    expect(await steps.addStep(c, "kill:after-ipam", "exec", problems)).toBe(false);
    let batches = 0;
    while (!(await steps.addStep(c, `kill:after-batch:${batches + 1}`, "exec", problems))) {
      if (++batches > 20) throw new Error("the fault point never let the ADD complete");
    }
    expect(batches).toBeGreaterThan(0);
    expect(await steps.delStep(c, "kill:after-batch:1", "exec", problems)).toBe(false);
    expect(problems).toEqual([]);
  }, 150_000);
});
