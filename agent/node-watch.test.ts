import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { ApiStatusError, watchStream, type KubeNode, type NodeApi, type NodeList, type WatchEvent, type WatchQuery } from "./kube";
import { NodeWatcher } from "./node-watch";

const node = (name: string, rv: string, podCIDR = "10.244.0.0/24"): KubeNode => ({ metadata: { name, resourceVersion: rv }, spec: { podCIDR } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

type WatchStep = (emit: (e: WatchEvent) => void, signal: AbortSignal) => Promise<void>;
/** Waits for the abort, then rejects as a real request would. */
const hang: WatchStep = (_emit, signal) =>
  new Promise((_resolve, reject) => {
    if (signal.aborted) reject(new Error("aborted"));
    signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true });
  });

/** A scripted API: list answers from `nodes` (or fails while `listFailures` > 0), each watch runs the next step. */
class FakeApi implements NodeApi {
  server = "https://api.test:6443";
  nodes: KubeNode[] = [];
  listRV = "100";
  listFailures = 0;
  listCalls = 0;
  watches: WatchQuery[] = [];
  steps: WatchStep[] = [];

  async listNodes(): Promise<NodeList> {
    this.listCalls++;
    if (this.listFailures > 0) {
      this.listFailures--;
      throw Object.assign(new Error("connect ECONNREFUSED 10.96.0.1:443"), { code: "ECONNREFUSED" });
    }
    return { items: structuredClone(this.nodes), resourceVersion: this.listRV };
  }

  async watchNodes(query: WatchQuery, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    this.watches.push(query);
    await (this.steps.shift() ?? hang)(onEvent, signal);
  }
}

function start(api: FakeApi, extra: Partial<ConstructorParameters<typeof NodeWatcher>[0]> = {}) {
  const changes: string[] = [];
  const lines: string[] = [];
  const w = new NodeWatcher({
    api,
    log: (l) => lines.push(l),
    onChange: (r) => changes.push(r),
    resyncMs: 60_000,
    backoff: { initialMs: 10, maxMs: 40 },
    random: () => 1,
    ...extra,
  });
  w.start();
  return { w, changes, lines };
}

describe("NodeWatcher against a scripted API", () => {
  let watcher: NodeWatcher | undefined;
  afterEach(async () => {
    await watcher?.stop();
    watcher = undefined;
  });

  test("LIST, then watch from its resourceVersion; events update the cache; bookmarks only the resourceVersion", async () => {
    const api = new FakeApi();
    api.nodes = [node("a", "5"), node("b", "6")];
    let emit!: (e: WatchEvent) => void;
    api.steps.push((e, signal) => ((emit = e), hang(e, signal)));
    const { w, changes } = start(api);
    watcher = w;
    await until("the watch", () => api.watches.length === 1);
    expect(api.watches[0]).toEqual({ resourceVersion: "100", timeoutSeconds: 120 });
    expect(w.synced).toBe(true);
    expect(changes).toEqual(["first LIST: 2 node(s)"]);

    emit({ type: "ADDED", object: node("c", "101") });
    emit({ type: "MODIFIED", object: node("a", "102", "10.244.9.0/24") });
    emit({ type: "MODIFIED", object: node("a", "102", "10.244.9.0/24") }); // the same again: no change
    emit({ type: "DELETED", object: node("b", "103") });
    emit({ type: "BOOKMARK", object: { kind: "Node", metadata: { resourceVersion: "150" } } });
    expect(changes.slice(1)).toEqual(["node c added", "node a changed", "node b deleted"]);
    expect(w.list().map((n) => [n.metadata?.name, n.spec?.podCIDR])).toEqual([
      ["a", "10.244.9.0/24"],
      ["c", "10.244.0.0/24"],
    ]);
    expect(w.lastResourceVersion).toBe("150");
  });

  test("the server ending the watch: watch again from the last resourceVersion (a bookmark's), no LIST", async () => {
    const api = new FakeApi();
    api.steps.push(async (emit) => {
      emit({ type: "BOOKMARK", object: { metadata: { resourceVersion: "222" } } });
      await sleep(1100); // longer than a useless watch: ends normally
    });
    watcher = start(api).w;
    await until("the second watch", () => api.watches.length === 2, 4000);
    expect(api.watches[1].resourceVersion).toBe("222");
    expect(api.listCalls).toBe(1);
  });

  test("an ERROR event with code 410: relist, and watch from the new list's resourceVersion", async () => {
    const api = new FakeApi();
    api.nodes = [node("a", "5")];
    api.steps.push(async (emit, signal) => {
      api.nodes = [node("a", "5"), node("new", "300")];
      api.listRV = "300";
      emit({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired", message: "too old resource version: 100 (250)" } });
      await hang(emit, signal); // a real stream stays open; the watcher must end it itself
    });
    const { w, changes, lines } = start(api);
    watcher = w;
    await until("the relist", () => api.watches.length === 2);
    expect(api.listCalls).toBe(2);
    expect(api.watches[1].resourceVersion).toBe("300");
    expect(changes).toEqual(["first LIST: 1 node(s)", "relist: node(s) added new"]);
    expect(lines).toContainEqual(expect.stringMatching(/expired \(410 Gone\): relisting/));
  });

  test("HTTP 410 on the watch request: relist, without backoff or a connection-loss line", async () => {
    const api = new FakeApi();
    api.steps.push(async () => {
      throw new ApiStatusError(410, "HTTP 410: too old resource version");
    });
    const { w, lines } = start(api);
    watcher = w;
    await until("the relist", () => api.watches.length === 2);
    expect(api.listCalls).toBe(2);
    expect(lines.filter((l) => /API server/.test(l) && !/listed/.test(l))).toEqual([]);
  });

  test("a watch silent for longer than the stall limit is aborted and restarted with a fresh LIST", async () => {
    const api = new FakeApi();
    const { w, lines } = start(api, { stallMs: 50 });
    watcher = w;
    await until("a restarted watch", () => api.watches.length >= 2);
    expect(api.listCalls).toBeGreaterThanOrEqual(2);
    expect(lines).toContainEqual(expect.stringMatching(/watch delivered nothing for 0\.1 s \(not even a bookmark\): restarting/));
  });

  test("bookmarks keep a quiet watch alive past the stall limit", async () => {
    const api = new FakeApi();
    api.steps.push(async (emit, signal) => {
      for (let i = 1; i <= 8 && !signal.aborted; i++) {
        await sleep(20);
        emit({ type: "BOOKMARK", object: { metadata: { resourceVersion: String(100 + i) } } });
      }
      await hang(emit, signal);
    });
    const { w } = start(api, { stallMs: 60 });
    watcher = w;
    await until("the last bookmark", () => w.lastResourceVersion === "108");
    expect(api.watches.length).toBe(1); // 8 bookmarks 20 ms apart: never 60 ms of silence
  });

  test("each resync period ends the watch and LISTs again (a watch that lost events cannot stay stale)", async () => {
    const api = new FakeApi();
    api.nodes = [node("a", "1")];
    const { w, changes } = start(api, { resyncMs: 40 });
    watcher = w;
    await until("two resyncs", () => api.listCalls >= 3);
    api.nodes = [node("a", "2")]; // changed behind the watch's back
    await until("the change", () => changes.includes("relist: node(s) changed a"));
  });

  test("API server away: cache kept, backoff (capped), one line for the loss and one for the recovery", async () => {
    const api = new FakeApi();
    api.nodes = [node("a", "1"), node("b", "2")];
    let fail!: () => void;
    api.steps.push(
      (_emit, signal) =>
        new Promise((_resolve, reject) => {
          fail = () => reject(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }));
          signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true });
        }),
    );
    const { w, changes, lines } = start(api);
    watcher = w;
    await until("the watch", () => api.watches.length === 1);
    const listsBefore = api.listCalls;
    api.listFailures = 6;
    const t0 = Date.now();
    fail();
    await until("the recovery", () => api.watches.length === 2, 5000);
    const took = Date.now() - t0;
    expect(api.listCalls - listsBefore).toBe(7); // 6 failures, then success
    // random() = 1: delays 10, 20, 40, 40, 40, 40, 40 (capped at 40): about 230 ms in all.
    expect(took).toBeGreaterThanOrEqual(200);
    expect(took).toBeLessThan(1500);
    expect(w.list().map((n) => n.metadata?.name)).toEqual(["a", "b"]);
    expect(changes).toEqual(["first LIST: 2 node(s)"]); // nothing changed: no reconcile was asked for
    const about = lines.filter((l) => /API server/.test(l) || /lost/.test(l));
    expect(about).toEqual([
      "API server https://api.test:6443: listed 2 node(s)",
      expect.stringMatching(/^lost the API server https:\/\/api\.test:6443: ECONNRESET: socket hang up; keeping routes and the conflist as they are, retrying with backoff \(up to 0 s\)$/),
      expect.stringMatching(/^API server https:\/\/api\.test:6443 still failing: connect ECONNREFUSED 10\.96\.0\.1:443$/),
      expect.stringMatching(/^API server https:\/\/api\.test:6443 answers again after 0\.\d s \(7 failed attempt\(s\)\); 2 node\(s\)$/),
    ]);
  });

  test("not reachable at start: not synced (the list is unknown, not empty) until the first LIST", async () => {
    const api = new FakeApi();
    api.listFailures = 3;
    const { w, lines } = start(api);
    watcher = w;
    await sleep(5);
    expect(w.synced).toBe(false);
    expect(w.apiReachable).toBe(false);
    await until("the first LIST", () => w.synced);
    expect(lines[0]).toMatch(/^cannot reach the API server/);
    expect(lines.filter((l) => /cannot reach/.test(l))).toHaveLength(1);
  });

  test("stop ends a watch in progress and the loop", async () => {
    const api = new FakeApi();
    const { w } = start(api);
    await until("the watch", () => api.watches.length === 1);
    await w.stop();
    await sleep(30);
    expect(api.watches.length).toBe(1);
  });
});

// A self-signed certificate for 127.0.0.1 (valid until 2126), only ever used by this test.
const KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgh5lCAZ8BrB2c18zD
h243owcoSQ9y31TH0R/asat3C32hRANCAAT8dD8asb9e5PDI0XICUPDIFV9av8cq
JBt91Z4GsRDQrNYS9HlDkXM1iTz/Kmlt0aY2p77vcjSNjLhXFV969a/l
-----END PRIVATE KEY-----`;
const CERT = `-----BEGIN CERTIFICATE-----
MIIBpDCCAUugAwIBAgIUQIy5W8OafEYAHgdfKtcxP1K9NyEwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOcGF0Y2hjb3JkLXRlc3QwIBcNMjYxMjAxMjIwNzEwWhgPMjEy
NjExMDcyMjA3MTBaMBkxFzAVBgNVBAMMDnBhdGNoY29yZC10ZXN0MFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAE/HQ/GrG/XuTwyNFyAlDwyBVfWr/HKiQbfdWeBrEQ
0KzWEvR5Q5FzNYk8/yppbdGmNqe+73I0jYy4VxVfevWv5aNvMG0wHQYDVR0OBBYE
FBHXMfsOR9bAhPfN7BzRoyHHKPUfMB8GA1UdIwQYMBaAFBHXMfsOR9bAhPfN7BzR
oyHHKPUfMA8GA1UdEwEB/wQFMAMBAf8wGgYDVR0RBBMwEYcEfwAAAYIJbG9jYWxo
b3N0MAoGCCqGSM49BAMCA0cAMEQCICWpDNKIfmzDIEw5pivRiCfUes0fqyC2KMlb
01W8m8sqAiAknqBxQC1Pd1nuZwCOxyi8kqTgwBOlHiq84kvsUcWCzw==
-----END CERTIFICATE-----`;

describe("the watch stream over HTTPS (what kube.ts sends)", () => {
  type Handler = (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => void;
  let server: Server;
  let handler: Handler;
  let base: string;
  const seen: { url: string; auth?: string }[] = [];

  beforeAll(async () => {
    server = createServer({ key: KEY, cert: CERT }, (req, res) => {
      seen.push({ url: req.url ?? "", auth: req.headers.authorization });
      handler(req, res);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const options = { ca: CERT, headers: { authorization: "Bearer t0k3n" }, agent: false as const };
  const collect = async (signal = new AbortController().signal) => {
    const events: WatchEvent[] = [];
    await watchStream(new URL(`${base}/api/v1/nodes?watch=true`), options, (e) => events.push(e), signal);
    return events;
  };

  test("events split across chunks, verified against the CA, with the token; resolves when the server ends it", async () => {
    handler = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      const text = `${JSON.stringify({ type: "ADDED", object: node("a", "7") })}\n${JSON.stringify({ type: "BOOKMARK", object: { metadata: { resourceVersion: "9" } } })}\n`;
      res.write(text.slice(0, 17));
      setTimeout(() => res.end(text.slice(17)), 20);
    };
    expect(await collect()).toEqual([
      { type: "ADDED", object: node("a", "7") },
      { type: "BOOKMARK", object: { metadata: { resourceVersion: "9" } } },
    ]);
    expect(seen.at(-1)?.auth).toBe("Bearer t0k3n");
  });

  test("an error answer is an ApiStatusError with the Status message", async () => {
    handler = (_req, res) => {
      res.writeHead(410, { "content-type": "application/json" });
      res.end(JSON.stringify({ kind: "Status", code: 410, reason: "Expired", message: "too old resource version: 5 (99)" }));
    };
    const err = await collect().catch((e) => e);
    expect(err).toBeInstanceOf(ApiStatusError);
    expect(err).toMatchObject({ statusCode: 410, message: "HTTP 410: too old resource version: 5 (99)" });
  });

  test("a connection cut mid-stream rejects (it is not a clean end)", async () => {
    handler = (req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write(`${JSON.stringify({ type: "ADDED", object: node("a", "7") })}\n`);
      setTimeout(() => req.socket.destroy(), 20);
    };
    await expect(collect()).rejects.toThrow();
  });

  test("abort ends a silent stream at once", async () => {
    handler = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.flushHeaders();
    };
    const ac = new AbortController();
    setTimeout(() => ac.abort("stall"), 30);
    const t0 = Date.now();
    await expect(collect(ac.signal)).rejects.toThrow(/stall/);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  test("a wrong CA fails (TLS is verified, not skipped)", async () => {
    handler = (_req, res) => res.end("{}");
    await expect(watchStream(new URL(`${base}/api/v1/nodes?watch=true`), { headers: {}, agent: false }, () => {}, new AbortController().signal)).rejects.toThrow(/self.signed|certificate/i);
  });
});
