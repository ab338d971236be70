import { existsSync } from "node:fs";
import { Cluster, clusterIt, oneClusterPerFile, podCIDR, podCIDR6, sleep, waitFor } from "./cluster";

/**
 * A node the controller-manager has not given a podCIDR yet: its agent must wait, say so once, and
 * write no conflist (so the kubelet keeps the node NotReady), then go Ready as soon as it has one.
 */
const it = clusterIt();
const clusters = oneClusterPerFile();

it("an agent on a node without podCIDR waits NotReady, without conflist, and goes Ready once it has one", async () => {
  const cluster = clusters.set(new Cluster({ nodes: 1, dualStack: true, resync: 1 }));
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
