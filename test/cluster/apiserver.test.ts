/**
 * The stand-in API server, seen through the client the agent uses (@kubernetes/client-node):
 * list/get/watch of nodes, bookmarks, 410 after compaction, authentication, RBAC read from the
 * manifest, pause/resume, and the process wrapper the cluster test drives.
 *
 * client-node is ESM only: Jest loads it only with Node's VM modules enabled
 * (NODE_OPTIONS=--experimental-vm-modules npx jest test/cluster/apiserver).
 */
import { ApiException, CoreV1Api, KubeConfig, makeInformer, V1Node, Watch } from "@kubernetes/client-node";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiServer, DEFAULT_MANIFEST, mergePatch, startApiServer } from "./apiserver";
import { ApiServerProcess } from "./apiserver-process";
import { makeNode } from "./nodes";
import { forbiddenMessage, requestAttributes } from "./rbac";

jest.setTimeout(30_000);

const SA = "system:serviceaccount:kube-system:patchcord";
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "patchcord-apiserver-"));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function kubeConfig(server: { url: string; caFile: string }, token: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: server.url, caFile: server.caFile, skipTLSVerify: false }],
    users: [{ name: "u", token }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return kc;
}

/** The status code of a failed call, and the Status object the server sent. */
async function failure(p: Promise<unknown>): Promise<{ code?: number; body?: { reason?: string; message?: string; code?: number } }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiException) return { code: e.code, body: typeof e.body === "string" ? JSON.parse(e.body) : e.body };
    return {};
  }
  throw new Error("the call succeeded");
}

interface Seen {
  type: string;
  object: { kind?: string; code?: number; reason?: string; metadata?: { name?: string; resourceVersion?: string } };
}

/** A raw watch with client-node's Watch, collecting events until stopped. */
async function watchNodes(kc: KubeConfig, query: Record<string, string | number | boolean | undefined>) {
  const events: Seen[] = [];
  let ended: (err: unknown) => void = () => undefined;
  const done = new Promise<unknown>((r) => (ended = r));
  const ctrl = await new Watch(kc).watch("/api/v1/nodes", query, (type, object) => events.push({ type, object }), (err) => ended(err));
  return { events, done, stop: () => ctrl.abort() };
}

async function until<T>(what: string, f: () => T | undefined | false, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("stand-in API server, in process", () => {
  let server: ApiServer;
  let kc: KubeConfig;
  let core: CoreV1Api;

  beforeAll(async () => {
    server = await startApiServer({ dir: tempDir(), bookmarkMs: 200 });
    kc = kubeConfig(server, server.token);
    core = kc.makeApiClient(CoreV1Api);
    server.addNode(makeNode("kind-control-plane", { podCIDRs: ["10.244.0.0/24"], internalIPs: ["172.18.0.2"], controlPlane: true }));
    server.addNode(makeNode("kind-worker", { podCIDRs: ["10.244.1.0/24"], internalIPs: ["172.18.0.3"] }));
  });
  afterAll(() => server.stop());

  test("writes the in-cluster credential files", () => {
    expect(readFileSync(server.tokenFile, "utf8")).toBe(server.token);
    expect(readFileSync(server.caFile, "utf8")).toMatch(/BEGIN CERTIFICATE/);
    expect(readFileSync(join(server.caFile, "../namespace"), "utf8")).toBe("kube-system");
    // loadFromCluster's layout: a prefix + /var/run/secrets/... is how an agent would read them;
    // here the kubeconfig next to them works the same.
    const fromFile = new KubeConfig();
    fromFile.loadFromFile(server.kubeconfigFile);
    expect(fromFile.getCurrentCluster()?.server).toBe(server.url);
  });

  test("lists and gets nodes as the real API server does", async () => {
    const list = await core.listNode();
    expect(list.items.map((n) => n.metadata?.name)).toEqual(["kind-control-plane", "kind-worker"]);
    expect(Number(list.metadata?.resourceVersion)).toBeGreaterThan(0);
    const worker = list.items[1];
    expect(worker.spec?.podCIDRs).toEqual(["10.244.1.0/24"]);
    expect(worker.spec?.podCIDR).toBe("10.244.1.0/24");
    expect(worker.status?.addresses).toContainEqual({ type: "InternalIP", address: "172.18.0.3" });
    expect(worker.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(worker.metadata?.creationTimestamp).toBeInstanceOf(Date);

    const one = await core.readNode({ name: "kind-worker" });
    expect(one.metadata?.resourceVersion).toBe(worker.metadata?.resourceVersion);
    const missing = await failure(core.readNode({ name: "nope" }));
    expect(missing.code).toBe(404);
    expect(missing.body).toMatchObject({ kind: "Status", reason: "NotFound", message: 'nodes "nope" not found', code: 404 });
  });

  test("selects by label and by field", async () => {
    const cp = await core.listNode({ labelSelector: "node-role.kubernetes.io/control-plane" });
    expect(cp.items.map((n) => n.metadata?.name)).toEqual(["kind-control-plane"]);
    const notCp = await core.listNode({ labelSelector: "!node-role.kubernetes.io/control-plane,kubernetes.io/os=linux" });
    expect(notCp.items.map((n) => n.metadata?.name)).toEqual(["kind-worker"]);
    const byName = await core.listNode({ fieldSelector: "metadata.name=kind-worker" });
    expect(byName.items.map((n) => n.metadata?.name)).toEqual(["kind-worker"]);
    expect((await failure(core.listNode({ fieldSelector: "status.phase=Running" }))).code).toBe(400);
  });

  test("watch: ADDED, MODIFIED, DELETED after the listed resourceVersion, and BOOKMARKs", async () => {
    const rv = (await core.listNode()).metadata!.resourceVersion!;
    const w = await watchNodes(kc, { resourceVersion: rv, allowWatchBookmarks: true });
    server.addNode(makeNode("kind-worker2", { internalIPs: ["172.18.0.4"] }));
    server.patchNode("kind-worker2", { spec: { podCIDR: "10.244.2.0/24", podCIDRs: ["10.244.2.0/24"] } });
    server.deleteNode("kind-worker2");
    await until("the three events and a bookmark", () => w.events.length >= 4 && w.events.some((e) => e.type === "BOOKMARK"));
    w.stop();
    const changes = w.events.filter((e) => e.type !== "BOOKMARK");
    expect(changes.map((e) => [e.type, e.object.metadata?.name])).toEqual([
      ["ADDED", "kind-worker2"],
      ["MODIFIED", "kind-worker2"],
      ["DELETED", "kind-worker2"],
    ]);
    // Each event carries the object at a later resourceVersion than the one before it.
    const rvs = changes.map((e) => Number(e.object.metadata?.resourceVersion));
    expect(rvs[0]).toBeGreaterThan(Number(rv));
    expect(rvs[1]).toBeGreaterThan(rvs[0]);
    expect(rvs[2]).toBeGreaterThan(rvs[1]);
    const bookmark = w.events.find((e) => e.type === "BOOKMARK")!;
    expect(bookmark.object).toEqual({ kind: "Node", apiVersion: "v1", metadata: { resourceVersion: expect.stringMatching(/^\d+$/) } });
  });

  test("watch from resourceVersion 0 starts with the existing nodes; a no-op update is no event", async () => {
    const w = await watchNodes(kc, { resourceVersion: "0" });
    await until("the synthetic ADDED events", () => w.events.length >= 2);
    const before = server.nodes().find((n) => n.metadata.name === "kind-worker")!;
    expect(server.patchNode("kind-worker", { spec: { podCIDR: "10.244.1.0/24" } }).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    server.patchNode("kind-worker", { metadata: { labels: { "patchcord.test/seen": "yes" } } });
    await until("the MODIFIED event", () => w.events.length >= 3);
    w.stop();
    expect(w.events.map((e) => [e.type, e.object.metadata?.name])).toEqual([
      ["ADDED", "kind-control-plane"],
      ["ADDED", "kind-worker"],
      ["MODIFIED", "kind-worker"],
    ]);
  });

  test("a filtered watch sees an object leave its selection as DELETED", async () => {
    const rv = (await core.listNode()).metadata!.resourceVersion!;
    const w = await watchNodes(kc, { resourceVersion: rv, labelSelector: "patchcord.test/seen=yes" });
    server.patchNode("kind-worker", { metadata: { labels: { "patchcord.test/seen": null } } });
    await until("the DELETED event", () => w.events.length >= 1);
    w.stop();
    expect(w.events.map((e) => [e.type, e.object.metadata?.name])).toEqual([["DELETED", "kind-worker"]]);
  });

  test("timeoutSeconds ends the watch cleanly", async () => {
    const started = Date.now();
    const w = await watchNodes(kc, { resourceVersion: "0", timeoutSeconds: 1 });
    expect(await w.done).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  test("after compact(), a watch from an older resourceVersion gets ERROR 410 Expired and ends", async () => {
    const old = (await core.listNode()).metadata!.resourceVersion!;
    server.patchNode("kind-worker", { metadata: { labels: { "patchcord.test/rev": "1" } } });
    server.compact();
    const w = await watchNodes(kc, { resourceVersion: old, allowWatchBookmarks: true });
    expect(await w.done).toBeNull();
    expect(w.events).toEqual([
      { type: "ERROR", object: expect.objectContaining({ kind: "Status", status: "Failure", reason: "Expired", code: 410 }) },
    ]);
    // A fresh list gives a resourceVersion that can be watched again.
    const fresh = (await core.listNode()).metadata!.resourceVersion!;
    const again = await watchNodes(kc, { resourceVersion: fresh });
    server.patchNode("kind-worker", { metadata: { labels: { "patchcord.test/rev": "2" } } });
    await until("the MODIFIED event", () => again.events.length >= 1);
    again.stop();
    expect(again.events[0].type).toBe("MODIFIED");
  });

  test("an informer (list, then watch) follows add, update and delete", async () => {
    const informer = makeInformer<V1Node>(kc, "/api/v1/nodes", () => core.listNode());
    const seen: string[] = [];
    informer.on("add", (n) => seen.push(`add ${n.metadata?.name}`));
    informer.on("update", (n) => seen.push(`update ${n.metadata?.name}`));
    informer.on("delete", (n) => seen.push(`delete ${n.metadata?.name}`));
    await informer.start();
    await until("the initial list", () => seen.length >= 2);
    server.addNode(makeNode("kind-worker3", { podCIDRs: ["10.244.3.0/24"], internalIPs: ["172.18.0.5"] }));
    server.deleteNode("kind-worker3");
    await until("add and delete of kind-worker3", () => seen.includes("delete kind-worker3"));
    await informer.stop();
    expect(seen).toEqual(["add kind-control-plane", "add kind-worker", "add kind-worker3", "delete kind-worker3"]);
  });

  test("a wrong or missing token gets 401; /version needs none", async () => {
    const wrong = kubeConfig(server, "not-the-token").makeApiClient(CoreV1Api);
    expect((await failure(wrong.listNode())).code).toBe(401);
    const last = server.requests[server.requests.length - 1];
    expect(last).toMatchObject({ path: "/api/v1/nodes", code: 401, allowed: false });
    expect(last.user).toBeUndefined();

    const anonymous = new KubeConfig();
    anonymous.loadFromOptions({
      clusters: [{ name: "c", server: server.url, caFile: server.caFile }],
      users: [{ name: "anon" }],
      contexts: [{ name: "x", cluster: "c", user: "anon" }],
      currentContext: "x",
    });
    expect((await failure(anonymous.makeApiClient(CoreV1Api).listNode())).code).toBe(401);
    const version = server.requests.length;
    const { VersionApi } = await import("@kubernetes/client-node");
    expect((await anonymous.makeApiClient(VersionApi).getCode()).gitVersion).toMatch(/^v1\./);
    expect(server.requests[version]).toMatchObject({ path: "/version", code: 200 });
  });

  test("verbs and resources the ClusterRole lacks get the real 403", async () => {
    const patch = await failure(core.patchNode({ name: "kind-worker", body: { metadata: { labels: { a: "b" } } } }));
    expect(patch.code).toBe(403);
    expect(patch.body).toMatchObject({
      kind: "Status",
      reason: "Forbidden",
      code: 403,
      message: `nodes "kind-worker" is forbidden: User "${SA}" cannot patch resource "nodes" in API group "" at the cluster scope`,
    });
    const pods = await failure(core.listPodForAllNamespaces());
    expect(pods.body?.message).toBe(`pods is forbidden: User "${SA}" cannot list resource "pods" in API group "" at the cluster scope`);
    const nsPods = await failure(core.listNamespacedPod({ namespace: "kube-system" }));
    expect(nsPods.body?.message).toBe(`pods is forbidden: User "${SA}" cannot list resource "pods" in API group "" in the namespace "kube-system"`);
    const status = await failure(core.patchNodeStatus({ name: "kind-worker", body: {} }));
    expect(status.body?.message).toContain(`cannot patch resource "nodes/status"`);
    expect(server.requests.filter((r) => !r.allowed && r.code === 403).map((r) => r.verb)).toEqual(["patch", "list", "list", "patch"]);
  });

  test("pause drops open watches and refuses connections; resume serves again on the same port", async () => {
    const w = await watchNodes(kc, { resourceVersion: "0", allowWatchBookmarks: true });
    await until("the watch to start", () => w.events.length >= 2);
    await server.pause();
    const err = await w.done;
    expect(err).toBeTruthy(); // an abrupt end, not a clean one: the client sees an error
    await expect(core.listNode()).rejects.toThrow();
    await server.resume();
    expect((await core.listNode()).items.length).toBe(2);
    expect(new URL(server.url).port).toBe(String(server.port));
  });
});

describe("RBAC comes from the manifest", () => {
  const variant = (edit: (yaml: string) => string) => {
    const dir = tempDir();
    const file = join(dir, "patchcord.yaml");
    writeFileSync(file, edit(readFileSync(DEFAULT_MANIFEST, "utf8")));
    return file;
  };

  test("a ClusterRole without watch makes watches fail with 403", async () => {
    const manifest = variant((y) => y.replace(/verbs: \["get", "list", "watch"\]/, 'verbs: ["get", "list"]'));
    const s = await startApiServer({ dir: tempDir(), manifest });
    try {
      const kc = kubeConfig(s, s.token);
      expect((await kc.makeApiClient(CoreV1Api).listNode()).items).toEqual([]);
      const w = await watchNodes(kc, { resourceVersion: "0" });
      expect((await w.done) as { statusCode?: number }).toMatchObject({ statusCode: 403 });
    } finally {
      await s.stop();
    }
  });

  test("a binding to another service account grants this one nothing", async () => {
    const s = await startApiServer({ dir: tempDir(), serviceAccount: "system:serviceaccount:kube-system:someone-else" });
    try {
      const r = await failure(kubeConfig(s, s.token).makeApiClient(CoreV1Api).listNode());
      expect(r.code).toBe(403);
      expect(r.body?.message).toContain('User "system:serviceaccount:kube-system:someone-else" cannot list resource "nodes"');
    } finally {
      await s.stop();
    }
  });

  test("request attributes follow the real request-info rules", () => {
    const q = (s = "") => new URLSearchParams(s);
    expect(requestAttributes("GET", "/api/v1/nodes", q())).toMatchObject({ verb: "list", apiGroup: "", resource: "nodes" });
    expect(requestAttributes("GET", "/api/v1/nodes", q("watch=1"))).toMatchObject({ verb: "watch" });
    expect(requestAttributes("GET", "/api/v1/watch/nodes", q())).toMatchObject({ verb: "watch", resource: "nodes" });
    expect(requestAttributes("GET", "/api/v1/nodes/n1", q())).toMatchObject({ verb: "get", name: "n1" });
    expect(requestAttributes("PATCH", "/api/v1/nodes/n1/status", q())).toMatchObject({ verb: "patch", name: "n1", subresource: "status" });
    expect(requestAttributes("DELETE", "/api/v1/nodes", q())).toMatchObject({ verb: "deletecollection" });
    expect(requestAttributes("GET", "/api/v1/namespaces/kube-system", q())).toMatchObject({ verb: "get", resource: "namespaces", name: "kube-system" });
    expect(requestAttributes("POST", "/apis/networking.k8s.io/v1/namespaces/d/networkpolicies", q())).toMatchObject({
      verb: "create", apiGroup: "networking.k8s.io", resource: "networkpolicies", namespace: "d",
    });
    expect(requestAttributes("GET", "/api", q())).toBeUndefined();
    expect(requestAttributes("GET", "/version", q())).toBeUndefined();
    expect(forbiddenMessage("u", { verb: "update", apiGroup: "apps", resource: "daemonsets", name: "x", namespace: "kube-system" })).toBe(
      'daemonsets.apps "x" is forbidden: User "u" cannot update resource "daemonsets" in API group "apps" in the namespace "kube-system"',
    );
  });

  test("merge patch: objects merge, null deletes, arrays replace", () => {
    expect(mergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null, d: 3 }, l: [3] })).toEqual({ a: { c: 2, d: 3 }, l: [3] });
  });
});

describe("stand-in API server as a process (the cluster test's way)", () => {
  test("starts, takes commands over stdin, serves client-node, stops", async () => {
    const p = await ApiServerProcess.start({ dir: tempDir(), host: "127.0.0.1", bookmarkMs: 200 });
    try {
      expect(p.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const kc = kubeConfig(p, p.token);
      const core = kc.makeApiClient(CoreV1Api);
      const added = await p.addNode(makeNode("n1", { podCIDRs: ["10.244.0.0/24", "fd00:10:244::/64"], internalIPs: ["10.0.0.1", "fd00::1"] }));
      expect(added.metadata.resourceVersion).toMatch(/^\d+$/);
      const w = await watchNodes(kc, { resourceVersion: added.metadata.resourceVersion });
      const patched = await p.patchNode("n1", { metadata: { labels: { zone: "a" } } });
      expect(patched.metadata.labels).toMatchObject({ zone: "a", "kubernetes.io/hostname": "n1" });
      await until("the MODIFIED event", () => w.events.length >= 1);
      w.stop();
      expect(w.events[0]).toMatchObject({ type: "MODIFIED", object: { metadata: { name: "n1" } } });
      expect((await core.listNode()).items[0].spec?.podCIDRs).toEqual(["10.244.0.0/24", "fd00:10:244::/64"]);
      await expect(p.deleteNode("missing")).rejects.toThrow(/not found/);

      await p.pause();
      await expect(core.listNode()).rejects.toThrow();
      await p.resume();
      await p.compact();
      await p.deleteNode("n1");
      expect(await p.nodes()).toEqual([]);
      expect((await core.listNode()).items).toEqual([]);
      const reqs = await p.requests();
      expect(reqs.filter((r) => r.path === "/api/v1/nodes").map((r) => r.verb)).toEqual(["watch", "list", "list"]);
      expect(reqs.every((r) => r.user === SA && r.allowed)).toBe(true);
    } finally {
      await p.stop();
    }
  });
});
