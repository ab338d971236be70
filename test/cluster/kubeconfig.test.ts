import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isRoot, testIf } from "../integration/helpers";
import { API_IP, API_PORT, BUN, Cluster, CNITOOL, PATCHCORD, waitFor } from "./cluster";

/**
 * The agent outside a cluster: a kubeconfig file (KUBECONFIG) instead of the service account,
 * and the API endpoint override (PATCHCORD_API_SERVER) that kind's nodes need before kube-proxy
 * runs. The kubeconfig names an address nothing answers on, so only the override can work.
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

it("runs from a kubeconfig, reaching the API server through PATCHCORD_API_SERVER", async () => {
  cluster = new Cluster({ nodes: 1, dualStack: false, resync: 1 });
  await cluster.createNetwork();
  await cluster.startApi();
  const [n] = cluster.nodes;
  const real = `https://${API_IP}:${API_PORT}`;
  const text = readFileSync(join(cluster.apiDir, "kubeconfig"), "utf8");
  expect(text).toContain(real);
  // 192.0.2.1 (TEST-NET-1): nothing answers there, so only the override reaches the API server.
  const kubeconfig = join(cluster.dir, "kubeconfig");
  writeFileSync(kubeconfig, text.split(real).join("https://192.0.2.1:6443"));
  Object.assign(cluster.options, { agentEnv: { KUBECONFIG: kubeconfig, KUBERNETES_SERVICE_HOST: "", KUBERNETES_SERVICE_PORT: "", PATCHCORD_API_SERVER: real } });
  cluster.startAgent(n);
  expect(await waitFor(async () => (await n.health("readyz")) === 200, 30_000)).toBe(true);
  expect(n.conflist()).toMatchObject({ name: "patchcord" });
  const requests = await cluster.api!.requests();
  expect(requests.some((r) => r.path === "/api/v1/nodes" && r.allowed)).toBe(true);
}, 90_000);
