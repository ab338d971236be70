import { existsSync } from "node:fs";
import { isRoot, testIf } from "../integration/helpers";
import { BUN, Cluster, CNITOOL, PATCHCORD, podCIDR, podCIDR6, sleep, waitFor } from "./cluster";

/**
 * A node the controller-manager has not given a podCIDR yet: its agent must wait, say so once, and
 * write no conflist (so the kubelet keeps the node NotReady), then go Ready as soon as it has one.
 */
const missing = [
  [isRoot, "root"],
  [existsSync(PATCHCORD), "the built binary (node scripts/build.mjs)"],
  [existsSync(CNITOOL), "dist/cnitool (conformance/cnitool/build.sh)"],
  [existsSync(BUN), "Bun (node_modules/@oven/bun-linux-x64)"],
]
  .filter(([ok]) => !ok)
  .map(([, what]) => what);
const it = testIf(missing.length === 0, `the cluster tests need ${missing.join(", ")}`);

let cluster: Cluster | undefined;

afterAll(async () => {
  if (!cluster) return;
  await cluster.destroy();
  expect(await cluster.leftovers()).toEqual([]);
}, 60_000);

it("an agent on a node without podCIDR waits NotReady, without conflist, and goes Ready once it has one", async () => {
  cluster = new Cluster({ nodes: 1, dualStack: true, resync: 1 });
  await cluster.createNetwork();
  await cluster.startApi();
  const [n] = cluster.nodes;
  await cluster.api!.patchNode(n.name, { spec: { podCIDR: null, podCIDRs: null } });
  cluster.startAgent(n);
  // Several resyncs (1 s each) with no podCIDR.
  expect(await waitFor(async () => /has no podCIDR yet/.test(n.agentLog()), 20_000)).toBe(true);
  await sleep(3_000);
  expect(existsSync(n.conflistPath())).toBe(false);
  expect(await n.health("readyz")).toBe(503);
  expect(await n.health("healthz")).toBe(200);
  expect(n.agentLog().match(/has no podCIDR yet/g)).toHaveLength(1); // said once, not every loop

  await cluster.api!.patchNode(n.name, { spec: { podCIDR: podCIDR(1), podCIDRs: [podCIDR(1), podCIDR6(1)] } });
  expect(await waitFor(async () => (await n.health("readyz")) === 200, 20_000)).toBe(true);
  const conf = n.conflist() as { plugins: { ipam: { ranges: { subnet: string }[][] } }[] };
  expect(conf.plugins[0].ipam.ranges).toEqual([[{ subnet: podCIDR(1) }], [{ subnet: podCIDR6(1) }]]);
}, 90_000);
