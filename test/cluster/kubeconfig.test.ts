import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { API_IP, API_PORT, Cluster, clusterIt, oneClusterPerFile, waitFor } from "./cluster";

/**
 * The agent outside a cluster: a kubeconfig file (KUBECONFIG) instead of the service account,
 * and the API endpoint override (PATCHCORD_API_SERVER) that kind's nodes need before kube-proxy
 * runs. The kubeconfig names an address nothing answers on, so only the override can work.
 */
const it = clusterIt();
const clusters = oneClusterPerFile();

it("runs from a kubeconfig, reaching the API server through PATCHCORD_API_SERVER", async () => {
  const cluster = clusters.set(new Cluster({ nodes: 1, dualStack: false, resync: 1 }));
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
