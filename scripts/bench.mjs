#!/usr/bin/env node
// npm run bench: patchcord against the reference plugins, side by side in one run. Not a test.
// Every measured round runs each subject once, in a rotating order (interleaved), so drift in the
// machine's load hits all subjects alike; we report medians, p90 and ratios.
//   --runs N       measured rounds (default 40; 5 warm-up rounds are discarded)
//   --no-build     use dist/ as it is
//   --only a,b     run only these groups: version, host-local, bridge, veth-routed, macvlan, burst
//   --json FILE    also write the raw figures
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const REF = "/usr/lib/cni";
const argv = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = argv.indexOf(name);
  return i < 0 ? fallback : argv[i + 1];
};
const RUNS = Number(flag("--runs", 40));
const WARMUP = 5;
const only = flag("--only", "version,host-local,bridge,veth-routed,macvlan,burst").split(",");
const tag = `pcb${process.pid.toString(36)}`;
const node = `${tag}node`;
const scratch = mkdtempSync(join(tmpdir(), "patchcord-bench-"));
const cleanups = [];

// ---------- running one invocation ----------

/** Spawns argv with env and stdin, resolves to wall milliseconds; rejects on a non-zero exit. */
function timed(cmd, args, env, input) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(cmd, args, { env: { PATH: process.env.PATH, ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (err += c));
    child.on("error", reject);
    child.stdin.on("error", () => undefined); // a command that reads no stdin may exit first
    child.on("close", (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (code !== 0) reject(new Error(`${cmd} ${args.join(" ")} exited ${code}: ${out}${err}`));
      else resolve(ms);
    });
    child.stdin.end(input);
  });
}

/** Peak resident memory (MiB) of one invocation, via GNU time. */
async function peakMiB(cmd, args, env, input) {
  if (!existsSync("/usr/bin/time")) return undefined;
  const r = await execa("/usr/bin/time", ["-f", "%M", cmd, ...args], { env: { PATH: process.env.PATH, ...env }, input, reject: false });
  const kb = Number(r.stderr.trim().split("\n").pop());
  return Number.isFinite(kb) ? kb / 1024 : undefined;
}

// ---------- statistics and output ----------

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const median = (xs) => quantile(xs, 0.5);
const fmt = (x, d = 1) => (x === undefined ? "n/a" : x.toFixed(d));
const results = {};
const targets = [];

function printTable(title, rows) {
  console.log(`\n${title}`);
  const head = ["subject", "median ms", "p90 ms", "peak MiB"];
  const lines = rows.map((r) => [r.name, fmt(r.median, 2), fmt(r.p90, 2), fmt(r.peak)]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const line = (cells) => "  " + cells.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ");
  console.log(line(head));
  for (const l of lines) console.log(line(l));
}

function target(what, ratio, limit) {
  const ok = ratio <= limit;
  const text = `${what}: ${ratio.toFixed(2)}x (target <= ${limit}x) ${ok ? "ok" : "MISSED"}`;
  targets.push(text);
  return text;
}

/**
 * Runs `subjects` (name -> async function returning ms for one measured operation, or an object of
 * named timings) interleaved for WARMUP + RUNS rounds.
 */
async function interleave(subjects) {
  const names = Object.keys(subjects);
  const samples = Object.fromEntries(names.map((n) => [n, {}]));
  for (let round = 0; round < WARMUP + RUNS; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]);
    for (const name of order) {
      const t = await subjects[name](round);
      if (round < WARMUP) continue;
      for (const [op, ms] of Object.entries(typeof t === "number" ? { op: t } : t)) (samples[name][op] ??= []).push(ms);
    }
  }
  return samples;
}

// ---------- the subjects ----------

const bin = {
  bun: join(root, "dist/bin"),
  sea: join(root, "dist/sea"),
};
const emptyBun = join(root, "dist/bench/empty-bun");
const emptyNode = join(root, "dist/bench/empty-node");

async function benchVersion() {
  const input = '{"cniVersion":"1.0.0"}';
  const env = { CNI_COMMAND: "VERSION" };
  const subjects = {
    "empty (Bun)": () => timed(emptyBun, [], env, input),
    "empty (Node SEA)": () => timed(emptyNode, [], env, input),
    "patchcord (Bun)": () => timed(join(bin.bun, "host-local"), [], env, input),
    "patchcord (Node SEA)": () => timed(join(bin.sea, "host-local"), [], env, input),
    "reference host-local": () => timed(join(REF, "host-local"), [], env, input),
  };
  const paths = { "empty (Bun)": emptyBun, "empty (Node SEA)": emptyNode, "patchcord (Bun)": join(bin.bun, "host-local"), "patchcord (Node SEA)": join(bin.sea, "host-local"), "reference host-local": join(REF, "host-local") };
  const s = await interleave(subjects);
  const rows = [];
  for (const name of Object.keys(subjects)) rows.push({ name, median: median(s[name].op), p90: quantile(s[name].op, 0.9), peak: await peakMiB(paths[name], [], env, input) });
  printTable(`VERSION (${RUNS} interleaved rounds)`, rows);
  const m = Object.fromEntries(rows.map((r) => [r.name, r.median]));
  console.log("  " + target("patchcord (Bun) VERSION vs empty Bun executable", m["patchcord (Bun)"] / m["empty (Bun)"], 1.15));
  console.log(`  patchcord Bun vs Node SEA: ${(m["patchcord (Bun)"] / m["patchcord (Node SEA)"]).toFixed(2)}x; vs reference: ${(m["patchcord (Bun)"] / m["reference host-local"]).toFixed(2)}x`);
  results.version = { rows };
}

async function benchHostLocal() {
  const conf = (dataDir) => JSON.stringify({ cniVersion: "1.0.0", name: "bench", type: "bridge", ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.99.0.0/16" }]] } });
  const impl = { "patchcord (Bun)": join(bin.bun, "host-local"), "patchcord (Node SEA)": join(bin.sea, "host-local"), "reference host-local": join(REF, "host-local") };
  const subjects = {};
  const inputs = {};
  for (const [name, path] of Object.entries(impl)) {
    const dir = mkdtempSync(join(scratch, "hl-"));
    inputs[name] = conf(dir);
    subjects[name] = async (round) => {
      const env = { CNI_CONTAINERID: `bench-${round}`, CNI_NETNS: "/proc/self/ns/net", CNI_IFNAME: "eth0", CNI_PATH: dirname(path) };
      const add = await timed(path, [], { ...env, CNI_COMMAND: "ADD" }, inputs[name]);
      const del = await timed(path, [], { ...env, CNI_COMMAND: "DEL" }, inputs[name]);
      return { ADD: add, DEL: del };
    };
  }
  const s = await interleave(subjects);
  for (const op of ["ADD", "DEL"]) {
    const rows = [];
    for (const [name, path] of Object.entries(impl)) {
      const env = { CNI_COMMAND: op, CNI_CONTAINERID: "peak", CNI_NETNS: "/proc/self/ns/net", CNI_IFNAME: "eth0", CNI_PATH: dirname(path) };
      rows.push({ name, median: median(s[name][op]), p90: quantile(s[name][op], 0.9), peak: await peakMiB(path, [], env, inputs[name]) });
    }
    printTable(`host-local ${op} (${RUNS} interleaved rounds)`, rows);
    const m = Object.fromEntries(rows.map((r) => [r.name, r.median]));
    console.log(`  patchcord (Bun) / reference: ${(m["patchcord (Bun)"] / m["reference host-local"]).toFixed(2)}x; Bun / Node SEA: ${(m["patchcord (Bun)"] / m["patchcord (Node SEA)"]).toFixed(2)}x`);
    const worst = Math.max(...rows.filter((r) => r.name.startsWith("patchcord (Bun)")).map((r) => r.peak ?? 0));
    if (worst) console.log("  " + `peak memory patchcord (Bun) ${worst.toFixed(1)} MiB (target <= 48 MiB) ${worst <= 48 ? "ok" : "MISSED"}`);
    results[`host-local ${op}`] = { rows };
  }
}

// ---------- bridge: in a throwaway node namespace ----------

const inNode = (cmd, args = []) => ["ip", ["netns", "exec", node, cmd, ...args]];
async function sh(cmd, args) {
  return execa(cmd, args, { reject: false });
}

async function setupNode() {
  await sh("ip", ["netns", "add", node]);
  cleanups.push(() => sh("ip", ["netns", "del", node]));
  await sh("ip", ["-n", node, "link", "set", "lo", "up"]);
}

/** The same conflist for both implementations, on its own bridge and subnet. */
function bridgeConf(impl, ipMasq, dataDir) {
  const third = (impl === "ours" ? 100 : 110) + (ipMasq ? 1 : 0);
  return JSON.stringify({
    cniVersion: "1.0.0",
    name: `bench-${impl}-${ipMasq ? "masq" : "plain"}`,
    type: "bridge",
    bridge: `${tag}${impl[0]}${ipMasq ? "m" : "p"}`,
    isGateway: true,
    ipMasq,
    ipam: { type: "host-local", dataDir, ranges: [[{ subnet: `198.18.${third}.0/24` }]] },
  });
}

let podSeq = 0;
async function newPod() {
  const name = `${tag}p${podSeq++}`;
  await sh("ip", ["netns", "add", name]);
  return name;
}

async function bridgeAddDel(impl, path, cniPath, conf) {
  const pod = await newPod();
  const env = { CNI_CONTAINERID: pod, CNI_NETNS: `/run/netns/${pod}`, CNI_IFNAME: "eth0", CNI_PATH: cniPath };
  const [cmd, args] = inNode(path);
  const add = await timed(cmd, args, { ...env, CNI_COMMAND: "ADD" }, conf);
  const del = await timed(cmd, args, { ...env, CNI_COMMAND: "DEL" }, conf);
  await sh("ip", ["netns", "del", pod]);
  return { ADD: add, DEL: del };
}

/** The same veth-routed / ptp conflist for both implementations. */
function routedConf(impl, ipMasq, dataDir) {
  const third = (impl === "ours" ? 120 : 130) + (ipMasq ? 1 : 0);
  return JSON.stringify({
    cniVersion: "1.0.0",
    name: `bench-rt-${impl}-${ipMasq ? "masq" : "plain"}`,
    type: impl === "ours" ? "veth-routed" : "ptp",
    ipMasq,
    ipam: { type: "host-local", dataDir, ranges: [[{ subnet: `198.18.${third}.0/24` }]] },
  });
}

/**
 * ADD and DEL of one plugin against its reference, interleaved, with and without ipMasq; `ip
 * netns exec true` alone shows what running inside the node namespace adds to both sides.
 */
async function benchPlugin(label, ours, reference, conf, targets, masqVariants = [false, true]) {
  for (const ipMasq of masqVariants) {
    const dirs = { ours: mkdtempSync(join(scratch, "pl-")), ref: mkdtempSync(join(scratch, "pl-")) };
    const subjects = {
      [`patchcord ${label}`]: () => bridgeAddDel("ours", ours, bin.bun, conf("ours", ipMasq, dirs.ours)),
      [`reference ${reference.split("/").pop()}`]: () => bridgeAddDel("ref", reference, REF, conf("ref", ipMasq, dirs.ref)),
      "ip netns exec true": async () => {
        const [cmd, args] = inNode("true");
        const t = await timed(cmd, args, {}, "");
        return { ADD: t, DEL: t };
      },
    };
    const [oursName, refName] = Object.keys(subjects);
    const s = await interleave(subjects);
    for (const op of ["ADD", "DEL"]) {
      const rows = Object.keys(subjects).map((name) => ({ name, median: median(s[name][op]), p90: quantile(s[name][op], 0.9) }));
      printTable(`${label} ${op}${ipMasq ? " with ipMasq" : ""} (${RUNS} interleaved rounds, each inside ip netns exec)`, rows);
      const m = Object.fromEntries(rows.map((r) => [r.name, r.median]));
      console.log("  " + target(`${label} ${op}${ipMasq ? " ipMasq" : ""} patchcord / reference`, m[oursName] / m[refName], targets(op, ipMasq)));
      results[`${label} ${op}${ipMasq ? " ipMasq" : ""}`] = { rows };
    }
  }
}

async function benchBridge() {
  await benchPlugin("bridge", join(bin.bun, "bridge"), join(REF, "bridge"), bridgeConf, (_op, ipMasq) => (ipMasq ? 1.0 : 1.5));
}

/** macvlan children of a veth end inside the node namespace (never a real NIC). */
function macvlanConf(impl, _ipMasq, dataDir) {
  return JSON.stringify({
    cniVersion: "1.0.0",
    name: `bench-mv-${impl}`,
    type: "macvlan",
    master: "benchmst0",
    ipam: { type: "host-local", dataDir, ranges: [[{ subnet: `198.18.${impl === "ours" ? 140 : 141}.0/24` }]] },
  });
}

async function benchMacvlan() {
  await sh("ip", ["netns", "exec", node, "ip", "link", "add", "benchmst0", "type", "veth", "peer", "name", "benchmst1"]);
  for (const l of ["benchmst0", "benchmst1"]) await sh("ip", ["netns", "exec", node, "ip", "link", "set", l, "up"]);
  await benchPlugin("macvlan", join(bin.bun, "macvlan"), join(REF, "macvlan"), macvlanConf, () => 1.5, [false]);
}

async function benchVethRouted() {
  await benchPlugin("veth-routed", join(bin.bun, "veth-routed"), join(REF, "ptp"), routedConf, () => 1.5);
}

async function burst(path, cniPath, conf, n) {
  const pods = [];
  for (let i = 0; i < n; i++) pods.push(await newPod());
  const env = (pod, command) => ({ CNI_COMMAND: command, CNI_CONTAINERID: pod, CNI_NETNS: `/run/netns/${pod}`, CNI_IFNAME: "eth0", CNI_PATH: cniPath });
  const [cmd, args] = inNode(path);
  const t0 = process.hrtime.bigint();
  await Promise.all(pods.map((p) => timed(cmd, args, env(p, "ADD"), conf)));
  const t1 = process.hrtime.bigint();
  await Promise.all(pods.map((p) => timed(cmd, args, env(p, "DEL"), conf)));
  const t2 = process.hrtime.bigint();
  for (const p of pods) await sh("ip", ["netns", "del", p]);
  return { ADD: Number(t1 - t0) / 1e6, DEL: Number(t2 - t1) / 1e6 };
}

async function benchBurst() {
  const rounds = Math.max(3, Math.round(RUNS / 8));
  const dirs = { ours: mkdtempSync(join(scratch, "burst-")), ref: mkdtempSync(join(scratch, "burst-")) };
  const s = { "patchcord bridge": { ADD: [], DEL: [] }, "reference bridge": { ADD: [], DEL: [] } };
  for (let r = 0; r < rounds; r++) {
    for (const [name, path, cniPath, impl] of r % 2 ? [["reference bridge", join(REF, "bridge"), REF, "ref"], ["patchcord bridge", join(bin.bun, "bridge"), bin.bun, "ours"]] : [["patchcord bridge", join(bin.bun, "bridge"), bin.bun, "ours"], ["reference bridge", join(REF, "bridge"), REF, "ref"]]) {
      const t = await burst(path, cniPath, bridgeConf(impl, false, dirs[impl]), 20);
      s[name].ADD.push(t.ADD);
      s[name].DEL.push(t.DEL);
    }
  }
  const rows = Object.keys(s).map((name) => ({ name, median: median(s[name].ADD) + median(s[name].DEL), p90: undefined }));
  printTable(`bridge burst: 20 concurrent ADDs then 20 concurrent DELs, wall time (${rounds} rounds, alternating)`, rows);
  console.log("  " + target("bridge 20-pod burst patchcord / reference", rows[0].median / rows[1].median, 1.5));
  results.burst = { rows, samples: s };
}

// ---------- main ----------

async function cleanup() {
  for (const c of cleanups.reverse()) await c();
  const left = (await sh("ip", ["netns", "list"])).stdout.split("\n").filter((l) => l.startsWith(tag));
  for (const l of left) await sh("ip", ["netns", "del", l.split(" ")[0]]);
  rmSync(scratch, { recursive: true, force: true });
}

process.on("SIGINT", async () => {
  await cleanup();
  process.exit(130);
});

try {
  if (!argv.includes("--no-build")) execFileSync(process.execPath, [join(root, "scripts/build.mjs"), "--sea"], { stdio: "inherit" });
  console.log(`patchcord benchmark: ${RUNS} measured rounds per case, ${WARMUP} warm-up rounds, interleaved; machine: ${execFileSync("nproc").toString().trim()} cores`);
  if (only.includes("version")) await benchVersion();
  if (only.includes("host-local")) await benchHostLocal();
  if (["bridge", "burst", "veth-routed", "macvlan"].some((g) => only.includes(g))) {
    if (process.getuid?.() !== 0) console.log("\nbridge: skipped (needs root)");
    else {
      await setupNode();
      if (only.includes("bridge")) await benchBridge();
      if (only.includes("veth-routed")) await benchVethRouted();
      if (only.includes("macvlan")) await benchMacvlan();
      if (only.includes("burst")) await benchBurst();
    }
  }
  console.log("\nTargets:");
  for (const t of targets) console.log("  " + t);
  const jsonFile = flag("--json");
  if (jsonFile) writeFileSync(jsonFile, JSON.stringify({ runs: RUNS, results }, null, 2));
} finally {
  await cleanup();
}
