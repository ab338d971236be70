import { request } from "node:http";
import type { KubeNode, NodeApi, NodeList, WatchEvent, WatchQuery } from "./kube";
import { runAgent, type AgentDeps } from "./main";
import type { Effects } from "./reconcile";

jest.mock("./uninstall", () => ({ uninstall: jest.fn(async () => undefined) }));
const { uninstall } = jest.requireMock("./uninstall") as { uninstall: jest.Mock };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, cond: () => boolean, ms = 4000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
function get(address: string, path: string): Promise<{ status: number; body: string }> {
  const [host, port] = [address.slice(0, address.lastIndexOf(":")), Number(address.slice(address.lastIndexOf(":") + 1))];
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, agent: false }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
    });
    req.on("error", reject);
    req.end();
  });
}

const node = (name: string, podCIDR: string | undefined, ip: string, rv: string): KubeNode => ({
  metadata: { name, resourceVersion: rv },
  spec: podCIDR ? { podCIDR } : {},
  status: { addresses: [{ type: "InternalIP", address: ip }] },
});

/** Lists `nodes`; the watch hands its emitter to the test and waits for the abort. */
class FakeApi implements NodeApi {
  server = "https://api.test:6443";
  emit: ((e: WatchEvent) => void) | undefined;
  constructor(public nodes: KubeNode[]) {}
  async listNodes(): Promise<NodeList> {
    return { items: structuredClone(this.nodes), resourceVersion: "10" };
  }
  watchNodes(_q: WatchQuery, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    this.emit = onEvent;
    return new Promise((_r, reject) => signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true }));
  }
}

/** Effects that record what they were asked; nothing may ever be removed. */
function recorder() {
  const state = { conflists: [] as string[], routes: [] as string[][], installs: 0, masq: [] as (string[] | undefined)[] };
  const effects: Effects = {
    installPlugins: async () => (state.installs++, { changed: state.installs === 1 ? ["bridge", "host-local"] : [] }),
    havePortmap: () => true,
    renderConflist: (spec) => JSON.stringify(spec),
    writeConflist: async (_dir, text) => {
      const changed = state.conflists.at(-1) !== text;
      if (changed) state.conflists.push(text);
      return changed;
    },
    syncRoutes: async (routes) => (state.routes.push(routes.map((r) => `${r.dst} via ${r.via}`)), { added: 0, replaced: 0, removed: 0, offLink: [] }),
    syncMasquerade: async (spec) => (state.masq.push(spec?.clusterCIDRs), false),
    uplinkMtu: async () => 1500,
    writeAgentState: () => false,
  };
  return { state, effects };
}

/** Agents a test started: stopped after each test even when it failed, or Jest never exits. */
const running: (() => void)[] = [];

function startAgent(args: string[], api: FakeApi, effects: Effects, serve?: AgentDeps["serve"]) {
  const lines: string[] = [];
  let stop!: (why: string) => void;
  let healthAddress = "";
  const deps: AgentDeps = {
    api,
    effects,
    env: {},
    log: (l) => lines.push(l),
    stopSignal: new Promise((r) => (stop = r)),
    onStarted: (info) => (healthAddress = info.healthAddress),
    serve,
  };
  const done = runAgent(["--node-name", "a", "--health-addr", "127.0.0.1:0", "--resync", "0.2", ...args], deps);
  running.push(() => stop("test over"));
  return { lines, done, stop: (why = "SIGTERM") => stop(why), health: () => healthAddress };
}

describe("runAgent", () => {
  beforeEach(() => uninstall.mockClear());
  afterEach(() => running.splice(0).forEach((stop) => stop()));

  test("--help prints the usage and exits 0; a bad value exits 2 with a message", async () => {
    const out = jest.spyOn(console, "log").mockImplementation(() => {});
    const err = jest.spyOn(console, "error").mockImplementation(() => {});
    expect(await runAgent(["--help"], { env: {} })).toBe(0);
    expect(out.mock.calls[0][0]).toMatch(/patchcord agent uninstall/);
    expect(await runAgent(["--resync", "never"], { env: {} })).toBe(2);
    expect(err.mock.calls[0][0]).toBe('patchcord agent: --resync "never": not a number of seconds');
    expect(await runAgent(["--kubeconfig", "/nonexistent/kubeconfig", "--node-name", "a"], { env: {} })).toBe(2);
    expect(err.mock.calls[1][0]).toMatch(/kubeconfig \/nonexistent\/kubeconfig: no such file/);
    out.mockRestore();
    err.mockRestore();
  });

  test("the resident server: started on --socket, stopped with the agent; a busy socket or a failure is logged and the agent carries on", async () => {
    const api = new FakeApi([node("a", "10.244.0.0/24", "172.18.0.2", "1")]);
    const calls: string[] = [];
    const serve: AgentDeps["serve"] = async (o) => {
      calls.push(`serve ${o.socket}`);
      return { stop: async () => void calls.push("stop") };
    };
    const agent = startAgent(["--socket", "/tmp/pc-agent-test.sock"], api, recorder().effects, serve);
    await until("ready", () => agent.lines.some((l) => /^ready after/.test(l)));
    agent.stop("SIGTERM");
    expect(await agent.done).toBe(0);
    expect(calls).toEqual(["serve /tmp/pc-agent-test.sock", "stop"]);

    const busy = startAgent([], api, recorder().effects, async () => ({ busy: "another patchcord server (pid 7) serves /run/patchcord/cni.sock" }));
    await until("ready", () => busy.lines.some((l) => /^ready after/.test(l)));
    expect(busy.lines).toContain("not serving CNI calls on /run/patchcord/cni.sock: another patchcord server (pid 7) serves /run/patchcord/cni.sock; carrying on without a server of its own");
    const failing = startAgent([], api, recorder().effects, async () => {
      throw new Error("the resident server must run as root");
    });
    await until("ready", () => failing.lines.some((l) => /^ready after/.test(l)));
    expect(failing.lines).toContain("cannot serve CNI calls on /run/patchcord/cni.sock: the resident server must run as root; the shims run each plugin themselves");
    const none: string[] = [];
    const off = startAgent(["--socket", "none"], api, recorder().effects, async () => (none.push("called"), { busy: "" }));
    await until("ready", () => off.lines.some((l) => /^ready after/.test(l)));
    expect(none).toEqual([]);
  });

  test("agent uninstall calls uninstall() with the directory flags and exits 0", async () => {
    expect(await runAgent(["uninstall", "--cni-bin-dir", "/b", "--cni-conf-dir", "/c", "--ipam-data-dir", "/i"], { env: {}, log: () => {} })).toBe(0);
    expect(uninstall).toHaveBeenCalledWith({ binDir: "/b", confDir: "/c", ipamDataDir: "/i", log: expect.any(Function) });
  });

  test("ready: binaries, routes, conflist; /readyz 200 and 'ready after N ms'; events reconcile; SIGTERM removes nothing", async () => {
    const api = new FakeApi([node("a", "10.244.0.0/24", "172.18.0.2", "1"), node("b", "10.244.1.0/24", "172.18.0.3", "2")]);
    const { state, effects } = recorder();
    const agent = startAgent([], api, effects);
    await until("ready", () => agent.lines.some((l) => /^ready after \d+ ms$/.test(l)));
    expect(state.installs).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(state.conflists[0])).toEqual({ mode: "veth-routed", mtu: 1500, podCIDRs: ["10.244.0.0/24"], dataDir: "/run/patchcord/ipam", portmap: true });
    expect(state.routes.at(-1)).toEqual(["10.244.1.0/24 via 172.18.0.3"]);
    expect(await get(agent.health(), "/readyz")).toEqual({ status: 200, body: "ok" });
    expect(await get(agent.health(), "/healthz")).toEqual({ status: 200, body: "ok" });

    // A node joins: one event, one reconcile with its route.
    api.emit!({ type: "ADDED", object: node("c", "10.244.2.0/24", "172.18.0.4", "11") });
    await until("the new route", () => state.routes.at(-1)?.length === 2);
    expect(state.routes.at(-1)).toEqual(["10.244.1.0/24 via 172.18.0.3", "10.244.2.0/24 via 172.18.0.4"]);
    expect(state.masq.at(-1)).toEqual(["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]);

    // The resync re-applies (and re-installs) with no event at all.
    const runs = state.routes.length;
    await until("two resyncs", () => state.routes.length >= runs + 2);
    expect(state.installs).toBeGreaterThanOrEqual(2);

    agent.stop("SIGTERM");
    expect(await agent.done).toBe(0);
    expect(uninstall).not.toHaveBeenCalled();
    expect(agent.lines.at(-2)).toBe("SIGTERM: stopping (the conflist, binaries, routes and rules stay in place)");
    expect(agent.lines.at(-1)).toBe("stopped");
    await expect(get(agent.health(), "/healthz")).rejects.toThrow(/ECONNREFUSED/);
  });

  test("no podCIDR yet: no conflist, /readyz 503 says why, the log says it once; then the podCIDR arrives", async () => {
    const api = new FakeApi([node("a", undefined, "172.18.0.2", "1")]);
    const { state, effects } = recorder();
    const agent = startAgent([], api, effects);
    await until("a few resyncs", () => state.installs >= 3);
    expect(state.conflists).toEqual([]);
    expect(await get(agent.health(), "/readyz")).toEqual({ status: 503, body: expect.stringMatching(/node a has no podCIDR yet/) });
    expect(agent.lines.filter((l) => /no podCIDR yet/.test(l))).toHaveLength(1);

    api.emit!({ type: "MODIFIED", object: node("a", "10.244.5.0/24", "172.18.0.2", "12") });
    await until("the conflist", () => state.conflists.length === 1);
    await until("ready", () => agent.lines.some((l) => /^ready after/.test(l)));
    agent.stop("SIGINT");
    expect(await agent.done).toBe(0);
  });

  test("a failing reconcile: /readyz 503 with the error, retried, one line per failure, no stack", async () => {
    const api = new FakeApi([node("a", "10.244.0.0/24", "172.18.0.2", "1")]);
    const { effects } = recorder();
    let failing = true;
    effects.syncMasquerade = async () => {
      if (failing) throw new Error("nft: Operation not permitted");
      return false;
    };
    const agent = startAgent([], api, effects);
    await until("a failure", () => agent.lines.some((l) => /reconcile failed/.test(l)));
    expect(await get(agent.health(), "/readyz")).toEqual({ status: 503, body: "last reconcile failed: nft: Operation not permitted" });
    expect(agent.lines.filter((l) => /reconcile failed/.test(l))[0]).toMatch(/^reconcile failed \(.*\): nft: Operation not permitted; retrying in 200 ms$/);
    expect(agent.lines.some((l) => /\n|at .*\.ts:\d+/.test(l))).toBe(false);
    failing = false;
    await until("ready", () => agent.lines.some((l) => /^ready after/.test(l)));
    agent.stop();
    expect(await agent.done).toBe(0);
  });
});
