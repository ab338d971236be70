import { ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostVethName } from "../../plugins/bridge/plan";
import { runCommand } from "../../shared/kernel/run";
import { BIN, EXEC_MODE, haveBinaries, isRoot, PluginRun, runId, testIf } from "../integration/helpers";
import { NetLab } from "../integration/netlab";
import { sleep } from "../integration/server-process";
import { recordFigure } from "./figures";
import { duplicates, reservationsIn, resultAddresses, storeDefects } from "./store/inspect";
import { linkNames } from "./store/kernel";
import { Tmpfs } from "./store/tmpfs";

// Reboot: pods are gone and the runtime starts again. With the store on a tmpfs (as the agent's
// /run/patchcord/ipam), a reboot empties it: new pods must get addresses without stale
// reservations in the way. With the store on disk, it survives: GC with the attachments the
// runtime still knows (cni.dev/valid-attachments) must remove the rest, in the store and in the
// node's kernel, and leave the valid pods working. Every call is the shim, exec'd, as a runtime runs it.
const it = testIf(isRoot && haveBinaries, "needs root (mount, namespaces) and the built binaries (npm run build)");
const rid = runId();
const lab = new NetLab(rid);
const holders: ChildProcess[] = [];
const started = Date.now();

beforeAll(async () => {
  if (isRoot && haveBinaries) await lab.create();
});
afterAll(async () => {
  for (const h of holders) h.kill("SIGKILL");
  await lab.destroy();
  await Tmpfs.removeAll();
  recordFigure({ suite: "reboot", what: "reboot scenarios (store on tmpfs emptied, with and without the node's netfilter; store kept, pods gone; a namespace still held)", value: 4, unit: "scenarios" });
  recordFigure({ suite: "reboot", what: "duration", value: Date.now() - started, unit: "ms" });
}, 30_000);

type Kind = "bridge" | "veth-routed";
const KINDS: Kind[] = ["bridge", "veth-routed"];

/** One network per plugin, each a /29 (5 addresses): 3 stale reservations would leave too few for 3 new pods. */
function networks(tag: string, dataDir: string, third: number): Record<Kind, Record<string, unknown>> {
  const ipam = (n: number) => ({ type: "host-local", dataDir, ranges: [[{ subnet: `10.66.${n}.0/29` }]] });
  return {
    bridge: { cniVersion: "1.1.0", name: `${tag}br`, type: "bridge", bridge: `${rid}${tag}`, isGateway: true, ipMasq: true, ipam: ipam(third) },
    "veth-routed": { cniVersion: "1.1.0", name: `${tag}vr`, type: "veth-routed", ipMasq: true, ipam: ipam(third + 1) },
  };
}

interface Pod {
  id: string;
  kind: Kind;
  ns: string;
  result?: Record<string, unknown>;
}

const env = (command: string, p: Pod) => ({ CNI_COMMAND: command, CNI_CONTAINERID: p.id, CNI_NETNS: `/run/netns/${p.ns}`, CNI_IFNAME: "eth0", CNI_PATH: BIN, ...EXEC_MODE });
const run = (command: string, p: Pod, conf: Record<string, unknown>): Promise<PluginRun> => lab.plugin(join(BIN, p.kind), env(command, p), conf);
const gc = (conf: Record<string, unknown>, valid: Pod[]) =>
  lab.plugin(join(BIN, conf.type as string), { CNI_COMMAND: "GC", CNI_PATH: BIN, ...EXEC_MODE }, { ...conf, "cni.dev/valid-attachments": valid.map((p) => ({ containerID: p.id, ifname: "eth0" })) });

function expectOk(r: PluginRun): void {
  expect({ exit: r.code, stderr: r.stderr, out: r.code ? r.stdout : "" }).toEqual({ exit: 0, stderr: "", out: "" });
}

async function addPods(prefix: string, confs: Record<Kind, Record<string, unknown>>, count = 3): Promise<Pod[]> {
  const pods: Pod[] = [];
  for (const kind of KINDS) {
    for (let i = 0; i < count; i++) {
      const p: Pod = { id: `${prefix}-${kind}-${i}`, kind, ns: "" };
      p.ns = (await lab.addPod(`${prefix}${kind[0]}${i}`)).split("/").pop()!;
      const r = await run("ADD", p, confs[kind]);
      expectOk(r);
      p.result = r.json;
      pods.push(p);
    }
  }
  return pods;
}

/** The masquerade tags of a network in the node's nftables table. */
async function masqTags(network: string): Promise<string[]> {
  const r = await lab.inNode("nft", "list", "table", "inet", "patchcord");
  return [...new Set([...r.stdout.matchAll(/comment "([^"]+)"/g)].map((m) => m[1]).filter((t) => t.startsWith(`${network}/`)))].sort();
}
const tagsOf = (network: string, pods: Pod[]) => pods.map((p) => `${network}/${p.id}/eth0`).sort();
const owners = (store: string) => [...reservationsIn(store).values()].map((o) => o.split("\r\n")[0]).sort();

/** After GC: exactly the valid pods hold addresses and masquerade, and each passes CHECK. */
async function expectOnly(valid: Pod[], confs: Record<Kind, Record<string, unknown>>, dataDir: string): Promise<void> {
  for (const kind of KINDS) {
    const name = confs[kind].name as string;
    const mine = valid.filter((p) => p.kind === kind);
    expect(owners(join(dataDir, name))).toEqual(mine.map((p) => p.id).sort());
    expect(storeDefects(join(dataDir, name))).toEqual([]);
    expect(await masqTags(name)).toEqual(tagsOf(name, mine));
    for (const p of mine) expectOk(await run("CHECK", p, { ...confs[kind], prevResult: p.result }));
  }
}

async function deleteAll(pods: Pod[], confs: Record<Kind, Record<string, unknown>>): Promise<void> {
  for (const p of pods) expectOk(await run("DEL", p, confs[p.kind]));
}

/**
 * Pods added with the store on a tmpfs, then the reboot: their namespaces go, the tmpfs is emptied
 * (unmounted, mounted again) and, when `nodeForgets`, the node's masquerade table goes too, as a
 * real reboot empties the kernel. Then the runtime adds new pods and GCs with them as the valid ones.
 */
async function rebootOnTmpfs(tag: string, third: number, nodeForgets: boolean): Promise<void> {
  const fs = await new Tmpfs("pc-reboot-", "size=256k").mount();
  const dataDir = join(fs.dir, "ipam");
  const confs = networks(tag, dataDir, third);
  const old = await addPods(`${tag}old`, confs);
  let fresh: Pod[] = [];
  try {
    for (const p of old) await lab.deleteNetns(p.ns);
    await fs.unmount();
    await fs.mount();
    if (nodeForgets) await lab.inNode("nft", "delete", "table", "inet", "patchcord");

    // With the 3 stale reservations still there, the third new pod of each /29 would get code 100.
    fresh = await addPods(`${tag}new`, confs);
    for (const kind of KINDS) {
      const addrs = fresh.filter((p) => p.kind === kind).flatMap((p) => resultAddresses(p.result));
      expect(addrs).toHaveLength(3);
      expect(duplicates(addrs)).toEqual([]);
    }
    // The runtime, started again, knows only the new pods: GC removes whatever the old ones left.
    for (const kind of KINDS) expectOk(await gc(confs[kind], fresh));
    await expectOnly(fresh, confs, dataDir);
    const [a, b] = fresh.filter((p) => p.kind === "bridge");
    expect(await lab.ping(a.ns, resultAddresses(b.result)[0].split("/")[0])).toBe(true);
  } finally {
    for (const p of fresh) await run("DEL", p, confs[p.kind]);
    await fs.remove();
  }
  for (const kind of KINDS) expect(await masqTags(confs[kind].name as string)).toEqual([]);
}

it("store on a tmpfs emptied by a reboot: new pods get addresses (no stale reservation in the way); GC with the new attachments keeps exactly them", async () => {
  await rebootOnTmpfs("t", 1, true);
}, 40_000);

// The store emptied, the node's masquerade table kept: a new pod that gets an old pod's address
// finds the old pod's nftables element. ADD replaces it (masqueradeOps), or GC, removing the old
// tag's elements, would take the new pod's masquerade with it, and its CHECK would fail.
it("store on a tmpfs emptied while the node's masquerade table stays: GC keeps the new pods' masquerade", async () => {
  await rebootOnTmpfs("k", 3, false);
}, 40_000);

it("store kept on disk, pods gone: GC with the valid attachments removes their reservations and netfilter entries and keeps the valid pods working", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "pc-reboot-disk-"));
  try {
    const confs = networks("d", dataDir, 5);
    const pods = await addPods("disk", confs);
    const valid = pods.filter((p) => p.id.endsWith("-2"));
    for (const p of pods.filter((p) => !valid.includes(p))) await lab.deleteNetns(p.ns);
    for (const kind of KINDS) expect(await masqTags(confs[kind].name as string)).toHaveLength(3); // stale ones included

    for (const kind of KINDS) expectOk(await gc(confs[kind], valid));
    await expectOnly(valid, confs, dataDir);
    const bridgePod = valid.find((p) => p.kind === "bridge")!;
    const gateway = String((bridgePod.result!.ips as { gateway: string }[])[0].gateway);
    expect(await lab.ping(bridgePod.ns, gateway)).toBe(true);
    // A new pod on each network gets an address again; then everything goes.
    const more = await addPods("more", confs, 1);
    await deleteAll([...valid, ...more], confs);
    for (const kind of KINDS) expect(owners(join(dataDir, confs[kind].name as string))).toEqual([]);
    expect((await linkNames(lab.node)).filter((l) => l.startsWith("veth"))).toEqual([]);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 40_000);

// Known gap (issue 14's closing note): GC removes a gone pod's reservation and netfilter entries
// but not its host veth, which outlives the runtime's `ip netns del` while a process still holds the
// namespace; only a DEL (which finds it by name) removes it. A host veth does not say which network
// it belongs to (two networks may share a bridge), so GC cannot tell a stale one from another
// network's; tagging veths at ADD (their alias) would. Flip to `it` once that is done.
(isRoot && haveBinaries ? test.failing : it)("a gone pod whose namespace a process still holds: GC removes its host veth too", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "pc-reboot-held-"));
  const confs = networks("h", dataDir, 7);
  const pods = await addPods("held", confs, 1);
  const holder = spawn("ip", ["netns", "exec", pods[0].ns, "sleep", "120"], { stdio: "ignore" });
  holders.push(holder);
  try {
    await sleep(150);
    for (const p of pods) await lab.deleteNetns(p.ns);
    const veth = hostVethName(pods[0].id, "eth0");
    expect(await linkNames(lab.node)).toContain(veth);
    for (const kind of KINDS) expectOk(await gc(confs[kind], []));
    await expectOnly([], confs, dataDir);
    expect(await linkNames(lab.node)).not.toContain(veth);
  } finally {
    holder.kill("SIGKILL");
    // The runtime's DEL finds the veth by name, without the namespace.
    for (const p of pods) await run("DEL", p, confs[p.kind]);
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 40_000);

// After all of the above: the node's return routes to veth-routed pods went with their veths.
it("no route to a gone pod stays in the node", async () => {
  const r = await runCommand(["ip", "-n", lab.node, "-j", "-4", "route", "show"]);
  expect((JSON.parse(r.stdout || "[]") as { dst: string; dev: string }[]).filter((x) => x.dev.startsWith("veth"))).toEqual([]);
});
