import type { KubeNode } from "./kube";
import { Notes } from "./log";
import { desiredState, nodeFacts, reconcileOnce, ReconcileScheduler, type DesiredInput, type Effects, type ReconcileConfig } from "./reconcile";

const node = (name: string, podCIDRs: string[] | string | undefined, ips: string[], rv = "1"): KubeNode => ({
  metadata: { name, resourceVersion: rv },
  spec: Array.isArray(podCIDRs) ? { podCIDRs, podCIDR: podCIDRs[0] } : podCIDRs ? { podCIDR: podCIDRs } : {},
  status: { addresses: [...ips.map((address) => ({ type: "InternalIP", address })), { type: "Hostname", address: name }] },
});

const INPUT: DesiredInput = { nodeName: "a", mode: "veth-routed", mtu: 1450, portmap: true, dataDir: "/run/patchcord/ipam", masquerade: true, clusterCIDRs: [] };

describe("nodeFacts", () => {
  test("dual-stack podCIDRs win over the legacy podCIDR; only InternalIPs count", () => {
    expect(nodeFacts(node("a", ["10.244.0.0/24", "fd00:10:244::/64"], ["172.18.0.2", "fc00:f853::2"]))).toEqual({
      name: "a",
      podCIDRs: ["10.244.0.0/24", "fd00:10:244::/64"],
      internalIPs: ["172.18.0.2", "fc00:f853::2"],
      problems: [],
    });
  });

  test("falls back to spec.podCIDR; a malformed value is a problem, not a crash", () => {
    expect(nodeFacts(node("b", "10.244.1.0/24", ["172.18.0.3"])).podCIDRs).toEqual(["10.244.1.0/24"]);
    const bad = nodeFacts({ metadata: { name: "c" }, spec: { podCIDR: "10.244.x/24" }, status: { addresses: [{ type: "InternalIP", address: "nope" }] } });
    expect(bad).toMatchObject({ podCIDRs: [], internalIPs: [] });
    expect(bad.problems).toEqual(['podCIDR "10.244.x/24" is not a CIDR', 'InternalIP "nope" is not an address']);
  });
});

describe("desiredState (nodes JSON -> conflist spec, routes, masquerade)", () => {
  const three = [node("c", ["10.244.2.0/24"], ["172.18.0.4"]), node("a", ["10.244.0.0/24"], ["172.18.0.2"]), node("b", ["10.244.1.0/24"], ["172.18.0.3"])];

  test("three nodes: our conflist, a route to each other node, masquerade for everything but the cluster", () => {
    expect(desiredState(three, INPUT)).toEqual({
      state: "ready",
      conflist: { mode: "veth-routed", mtu: 1450, podCIDRs: ["10.244.0.0/24"], dataDir: "/run/patchcord/ipam", portmap: true },
      routes: [
        { node: "b", dst: "10.244.1.0/24", via: "172.18.0.3" },
        { node: "c", dst: "10.244.2.0/24", via: "172.18.0.4" },
      ],
      masq: { podCIDRs: ["10.244.0.0/24"], clusterCIDRs: ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"], nodeIPs: ["172.18.0.2", "172.18.0.3", "172.18.0.4"] },
      notes: [],
    });
  });

  test("PATCHCORD_CLUSTER_CIDRS join the non-masquerade set; masquerade off gives no spec", () => {
    const withExtra = desiredState(three, { ...INPUT, clusterCIDRs: ["10.96.0.0/12", "10.244.1.0/24"] });
    expect(withExtra.state === "ready" && withExtra.masq?.clusterCIDRs).toEqual(["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24", "10.96.0.0/12"]);
    const off = desiredState(three, { ...INPUT, masquerade: false });
    expect(off.state === "ready" && off.masq).toBeUndefined();
  });

  test("dual-stack: each podCIDR via the InternalIP of its own family", () => {
    const nodes = [node("a", ["10.244.0.0/24", "fd00:10:244::/64"], ["172.18.0.2", "fc00::2"]), node("b", ["10.244.1.0/24", "fd00:10:244:1::/64"], ["fc00::3", "172.18.0.3"])];
    const d = desiredState(nodes, INPUT);
    expect(d.state === "ready" && d.routes).toEqual([
      { node: "b", dst: "10.244.1.0/24", via: "172.18.0.3" },
      { node: "b", dst: "fd00:10:244:1::/64", via: "fc00::3" },
    ]);
    expect(d.state === "ready" && d.conflist.podCIDRs).toEqual(["10.244.0.0/24", "fd00:10:244::/64"]);
  });

  test("a node without podCIDR or without an address of the family is skipped, with a note", () => {
    const nodes = [node("a", ["10.244.0.0/24"], ["172.18.0.2"]), node("b", undefined, ["172.18.0.3"]), node("c", ["fd00:10:244:2::/64"], ["172.18.0.4"])];
    const d = desiredState(nodes, INPUT);
    expect(d.state === "ready" && d.routes).toEqual([]);
    expect(d.notes).toEqual(["node b has no podCIDR yet: no route to it", "node c has no IPv6 InternalIP: no route to its podCIDR fd00:10:244:2::/64"]);
  });

  test("our node without podCIDR, or missing: waiting, no conflist", () => {
    expect(desiredState([node("a", undefined, ["172.18.0.2"])], INPUT)).toMatchObject({ state: "waiting", reason: expect.stringMatching(/node a has no podCIDR yet/) });
    expect(desiredState([node("b", ["10.244.1.0/24"], ["172.18.0.3"])], INPUT)).toMatchObject({ state: "waiting", reason: expect.stringMatching(/node a is not in the API's node list/) });
  });

  test("order of the list does not matter (stable output)", () => {
    expect(desiredState([...three].reverse(), INPUT)).toEqual(desiredState(three, INPUT));
  });
});

describe("reconcileOnce", () => {
  const CFG: ReconcileConfig = { nodeName: "a", mode: "bridge", mtu: 0, masquerade: true, clusterCIDRs: [], binDir: "/b", confDir: "/c", dataDir: "/d", source: "/proc/self/exe" };
  const fakeEffects = (calls: string[], overrides: Partial<Effects> = {}): Effects => ({
    installPlugins: async () => (calls.push("install"), { changed: ["bridge"] }),
    havePortmap: () => false,
    renderConflist: (spec) => JSON.stringify(spec),
    writeConflist: async (dir, text) => (calls.push(`conflist ${dir} ${text}`), true),
    syncRoutes: async (routes) => (calls.push(`routes ${routes.map((r) => `${r.dst}>${r.via}`).join(",")}`), { added: routes.length, replaced: 0, removed: 0, offLink: [] }),
    syncMasquerade: async (spec) => (calls.push(`masq ${spec ? spec.clusterCIDRs.join(",") : "off"}`), false),
    uplinkMtu: async (ips) => (calls.push(`uplink ${ips.join(",")}`), 1500),
    writeAgentState: (dir, st) => (calls.push(`state ${dir} ${st.node} ${st.podCIDRs.join(",")} ${st.routes.map((r) => `${r.node}:${r.dst}>${r.via}`).join(",")}`), true),
    ...overrides,
  });
  const nodes = [node("a", ["10.244.0.0/24"], ["172.18.0.2"]), node("b", ["10.244.1.0/24"], ["172.18.0.3"])];

  test("binaries first, conflist last (it is what makes the node Ready)", async () => {
    const calls: string[] = [];
    const lines: string[] = [];
    const r = await reconcileOnce(nodes, { install: true }, CFG, fakeEffects(calls), (l) => lines.push(l), new Notes((l) => lines.push(l)));
    expect(calls).toEqual([
      "install",
      "uplink 172.18.0.2",
      "routes 10.244.1.0/24>172.18.0.3",
      "masq 10.244.0.0/24,10.244.1.0/24",
      "state /d a 10.244.0.0/24 b:10.244.1.0/24>172.18.0.3",
      `conflist /c ${JSON.stringify({ mode: "bridge", mtu: 1500, podCIDRs: ["10.244.0.0/24"], dataDir: "/d", portmap: false })}`,
    ]);
    expect(r).toEqual({ ready: true, reason: "ok", changes: ["installed bridge", "routes +1 ~0 -0", "agent state written", "conflist written (mtu 1500, podCIDRs 10.244.0.0/24)"] });
  });

  test("an MTU override skips the uplink lookup; install only when asked", async () => {
    const calls: string[] = [];
    await reconcileOnce(nodes, { install: false }, { ...CFG, mtu: 1400 }, fakeEffects(calls), () => {}, new Notes(() => {}));
    expect(calls.some((c) => c.startsWith("uplink") || c === "install")).toBe(false);
    expect(calls.at(-1)).toContain('"mtu":1400');
  });

  test("before the first LIST only the binaries; without our podCIDR no conflist, said once", async () => {
    const calls: string[] = [];
    const lines: string[] = [];
    const notes = new Notes((l) => lines.push(l));
    expect(await reconcileOnce(undefined, { install: true }, CFG, fakeEffects(calls), () => {}, notes)).toMatchObject({ ready: false, reason: expect.stringMatching(/first node list/) });
    const noCIDR = [node("a", undefined, ["172.18.0.2"]), nodes[1]];
    for (let i = 0; i < 3; i++) expect((await reconcileOnce(noCIDR, { install: false }, CFG, fakeEffects(calls), () => {}, notes)).ready).toBe(false);
    expect(calls).toEqual(["install"]);
    expect(lines).toEqual([expect.stringMatching(/node a has no podCIDR yet/)]);
  });

  test("a failing effect throws and stops the pass before the conflist", async () => {
    const calls: string[] = [];
    const fx = fakeEffects(calls, {
      syncRoutes: async () => {
        throw new Error("RTNETLINK answers: Operation not permitted");
      },
    });
    await expect(reconcileOnce(nodes, { install: false }, CFG, fx, () => {}, new Notes(() => {}))).rejects.toThrow(/not permitted/);
    expect(calls.some((c) => c.startsWith("conflist"))).toBe(false);
  });
});

describe("ReconcileScheduler", () => {
  const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

  test("a burst of requests makes one run; requests during a run make one more; never two at once", async () => {
    const runs: string[][] = [];
    let active = 0;
    let maxActive = 0;
    const s = new ReconcileScheduler(
      async (reasons) => {
        active++;
        maxActive = Math.max(maxActive, active);
        runs.push(reasons);
        await tick(30);
        active--;
      },
      { settleMs: 5, retry: { initialMs: 10, maxMs: 100 }, log: () => {} },
    );
    for (let i = 0; i < 10; i++) s.request(`event ${i % 3}`);
    await tick(15); // first run in progress
    for (let i = 0; i < 5; i++) s.request("during");
    await tick(100);
    expect(runs).toEqual([["event 0", "event 1", "event 2"], ["during"]]);
    expect(maxActive).toBe(1);
    await s.stop();
  });

  test("a failed run is logged as one line and retried, keeping its install flag", async () => {
    const lines: string[] = [];
    const runs: boolean[] = [];
    const s = new ReconcileScheduler(
      async (_reasons, install) => {
        runs.push(install);
        if (runs.length === 1) throw Object.assign(new Error("iptables: resource temporarily unavailable"), { stack: "SHOULD NOT APPEAR" });
      },
      { settleMs: 1, retry: { initialMs: 10, maxMs: 100 }, log: (l) => lines.push(l) },
    );
    s.request("start", true);
    await tick(60);
    expect(runs).toEqual([true, true]);
    expect(lines).toEqual(["reconcile failed (start): iptables: resource temporarily unavailable; retrying in 10 ms"]);
    await s.stop();
  });

  test("stop waits for the run in progress and refuses new ones", async () => {
    let finished = false;
    const s = new ReconcileScheduler(
      async () => {
        await tick(30);
        finished = true;
      },
      { settleMs: 0, retry: { initialMs: 10, maxMs: 100 }, log: () => {} },
    );
    s.request("start");
    await tick(5);
    await s.stop();
    expect(finished).toBe(true);
    s.request("late");
    expect(s.runningSince).toBeUndefined();
  });
});
