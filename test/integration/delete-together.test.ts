import { existsSync } from "node:fs";
import { join } from "node:path";
import { runCommand } from "../../shared/kernel/run";
import { isRoot, ROOT, runId, testIf } from "./helpers";
import { NetLab } from "./netlab";

// Many callers' link deletions in one namespace as one kernel operation (the resident server's
// DEL bursts): each caller must get what its own deletion would have given, and the kernel must
// end as it would have after the deletions one by one. Each case builds the same links in two
// node namespaces, deletes them together in one and one by one in the other, and compares.
const bun = join(ROOT, "node_modules/@oven/bun-linux-x64/bin/bun");
const it = testIf(isRoot && existsSync(bun) && process.arch === "x64", "needs root and Bun from npm ci (x86-64)");
const lab = new NetLab(runId());
afterAll(() => lab.destroy());

interface Links {
  name: string;
  group: number;
  master?: string;
}

async function node(tag: string, ports: string[]): Promise<{ ns: string; path: string; pod: string }> {
  const path = await lab.addPod(`${tag}n`);
  const podPath = await lab.addPod(`${tag}p`);
  const ns = path.split("/").pop()!;
  const pod = podPath.split("/").pop()!;
  const ip = (...a: string[]) => NetLab.sh("ip", "-n", ns, ...a);
  await ip("link", "add", "dtbr0", "type", "bridge");
  for (const [i, p] of ports.entries()) {
    await ip("link", "add", p, "master", "dtbr0", "type", "veth", "peer", "name", `eth${i}`, "netns", pod);
  }
  // An operator's link in a group of its own (one end of the pair): never deleted, its group kept.
  await ip("link", "add", "dtkeep0", "group", "7", "type", "veth", "peer", "name", "dtkeep1");
  return { ns, path, pod };
}

async function links(ns: string): Promise<Links[]> {
  const r = await NetLab.sh("ip", "-n", ns, "-j", "-d", "link", "show");
  return (JSON.parse(r.stdout) as { ifname: string; group: string; master?: string }[])
    .map((l) => ({ name: l.ifname, group: l.group === "default" ? 0 : Number(l.group), ...(l.master ? { master: l.master } : {}) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

async function compare(ports: string[], batches: { names: string[]; force: boolean }[]) {
  const tag = `d${Math.floor(Math.random() * 1e6).toString(36)}`;
  const a = await node(`${tag}a`, ports);
  const b = await node(`${tag}b`, ports);
  const r = await runCommand([bun, join(__dirname, "fixtures/delete-together.ts"), a.path, JSON.stringify(batches), b.path]);
  expect([r.code, r.stderr]).toEqual([0, ""]);
  const out = JSON.parse(r.stdout) as { together: unknown[]; alone: unknown[] };
  expect(out.together).toEqual(out.alone);
  expect(await links(a.ns)).toEqual(await links(b.ns));
  expect(await links(a.pod)).toEqual(await links(b.pod));
  return { results: out.together as { code: number; stderr: string }[], node: await links(a.ns), pod: await links(a.pod) };
}

it("several batches at once: each gets its own deletion's answer, missing links fail only their own batch", async () => {
  const ports = ["dtv1", "dtv2", "dtv3", "dtv4", "dtv5", "dtv6"];
  const { results, node: left, pod } = await compare(ports, [
    { names: ["dtv1"], force: true },
    { names: ["dtv2"], force: true },
    { names: ["dtnothere"], force: true },
    { names: ["dtv3", "dtv4"], force: true },
    { names: ["dtmissing", "dtv5"], force: false },
    { names: ["dtv6"], force: false },
  ]);
  expect(results.map((x) => x.code)).toEqual([0, 0, 1, 0, 1, 0]);
  expect(results[2].stderr).toContain("dtnothere");
  // What is left: the bridge, the operator's pair (group 7), loopback, and dtv5 (its batch stopped
  // at the missing link before it); in the pod, dtv5's peer.
  expect(left.map((l) => l.name)).toEqual(["dtbr0", "dtkeep0", "dtkeep1", "dtv5", "lo"]);
  expect(left.find((l) => l.name === "dtkeep0")!.group).toBe(7);
  expect(left.find((l) => l.name === "dtv5")).toEqual({ name: "dtv5", group: 0, master: "dtbr0" });
  expect(pod.map((l) => l.name)).toEqual(["eth4", "lo"]);
});

it("a link the kernel cannot delete among them: each is deleted on its own, and the one left keeps its group", async () => {
  const { results, node: left } = await compare(["dtv1", "dtv2"], [
    { names: ["lo"], force: true },
    { names: ["dtv1"], force: true },
    { names: ["dtv2"], force: true },
  ]);
  expect(results.map((x) => x.code)).toEqual([1, 0, 0]);
  expect(results[0].stderr).toMatch(/not supported/i);
  expect(left.map((l) => [l.name, l.group])).toEqual([
    ["dtbr0", 0],
    ["dtkeep0", 7],
    ["dtkeep1", 0],
    ["lo", 0],
  ]);
});

it("a namespace that cannot be opened answers every batch with the error and changes nothing", async () => {
  const r = await runCommand([bun, join(__dirname, "fixtures/delete-together.ts"), "/run/netns/pc-no-such-netns", JSON.stringify([{ names: ["x"], force: true }, { names: ["y"], force: true }]), "/run/netns/pc-no-such-netns"]);
  const out = JSON.parse(r.stdout) as { together: { code: number; stderr: string }[]; alone: { code: number; stderr: string }[] };
  expect(out.together).toEqual(out.alone);
  expect(out.together[0].code).toBe(1);
});
