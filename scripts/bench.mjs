#!/usr/bin/env node
// npm run bench: patchcord against the reference plugins, side by side in one run. Not a test.
// patchcord runs in its two modes (issue 13): "server", the shim (dist/bin/<plugin>) handing the
// call to one `patchcord serve` the bench starts itself, and "exec", the same shim finding no
// server and execve'ing dist/bin/patchcord. Every measured round runs each subject once, in a
// rotating order (interleaved), so drift in the machine's load hits all subjects alike; we report
// medians, p90 and ratios, and from the server's request log how much of a server-mode call is the
// plugin's own work.
//   --runs N       measured rounds (default 40; 5 warm-up rounds are discarded)
//   --pairs N      host-local ADD/DEL pairs of the memory group (default 10000)
//   --no-build     use dist/ as it is
//   --only a,b     run only these groups: version, host-local, bridge, veth-routed, macvlan, burst, memory
//   --json FILE    also write the raw figures
import { spawn, execFileSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
const PAIRS = Number(flag("--pairs", 10000));
const WARMUP = 5;
const only = flag("--only", "version,host-local,bridge,veth-routed,macvlan,burst,memory").split(",");
const tag = `pcb${process.pid.toString(36)}`;
const node = `${tag}node`;
const scratch = mkdtempSync(join(tmpdir(), "patchcord-bench-"));
const cleanups = [];
let cleaning; // the cleanup under way: nothing new starts once it has
const began = Date.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const isRoot = process.getuid?.() === 0;

// ---------- running one invocation ----------

/** Spawns argv with env and stdin, resolves to wall milliseconds; rejects on a non-zero exit. */
function timed(cmd, args, env, input) {
  return new Promise((resolve, reject) => {
    if (cleaning) return reject(new Error("stopping: nothing more is run"));
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
      if (code !== 0) reject(new Error(`${cmd} ${args.join(" ")} (${env.CNI_COMMAND ?? ""} ${env.CNI_CONTAINERID ?? ""}) exited ${code}: ${out}${err}`));
      else resolve(ms);
    });
    child.stdin.end(input);
  });
}

/** Peak resident memory (MiB) of one invocation, via GNU time (`wrap` puts time inside ip netns exec). */
async function peakMiB(cmd, args, env, input, wrap = (c, a) => [c, a]) {
  if (!existsSync("/usr/bin/time")) return undefined;
  const [c, a] = wrap("/usr/bin/time", ["-f", "%M", cmd, ...args]);
  const r = await execa(c, a, { env: { PATH: process.env.PATH, ...env }, extendEnv: false, input, reject: false });
  const kb = Number(r.stderr.trim().split("\n").pop());
  return r.exitCode === 0 && Number.isFinite(kb) ? kb / 1024 : undefined;
}

// ---------- statistics and output ----------

const quantile = (xs, q) => {
  if (!xs?.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const median = (xs) => quantile(xs, 0.5);
const fmt = (x, d = 1) => (x === undefined || Number.isNaN(x) ? "n/a" : x.toFixed(d));
const ratio = (a, b) => (a === undefined || b === undefined ? undefined : a / b);
const results = {};
const targets = [];
/** One row per case and operation for the closing summary. */
const summary = [];

function printTable(title, rows) {
  console.log(`\n${title}`);
  const withPeak = rows.some((r) => r.peak !== undefined);
  const head = ["subject", "median ms", "p90 ms", ...(withPeak ? ["peak MiB"] : [])];
  const lines = rows.map((r) => [r.name, fmt(r.median, 2), fmt(r.p90, 2), ...(withPeak ? [fmt(r.peak)] : [])]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const line = (cells) => "  " + cells.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ");
  console.log(line(head));
  for (const l of lines) console.log(line(l));
}

/** A target: recorded for the closing list, returned as the line to print now. */
function target(what, value, limit, unit = "x") {
  const ok = value !== undefined && value <= limit;
  const text = `${what}: ${fmt(value, 2)}${unit} (target <= ${limit}${unit}) ${ok ? "ok" : "MISSED"}`;
  targets.push(text);
  return text;
}

function info(what, value, unit = "x") {
  const text = `${what}: ${fmt(value, 2)}${unit} (informational)`;
  targets.push(text);
  return text;
}

/**
 * Runs `subjects` (name -> async function returning ms for one measured operation, or an object of
 * named timings) interleaved for WARMUP + RUNS rounds.
 */
async function interleave(subjects, rounds = RUNS, warmup = WARMUP) {
  const names = Object.keys(subjects);
  const samples = Object.fromEntries(names.map((n) => [n, {}]));
  for (let round = 0; round < warmup + rounds; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]);
    for (const name of order) {
      const t = await subjects[name](round, round >= warmup);
      if (round < warmup) continue;
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
/** What a runtime executes: the shim, under the plugin's name. */
const shim = (plugin) => join(bin.bun, plugin);
const emptyBun = join(root, "dist/bench/empty-bun");
const emptyNode = join(root, "dist/bench/empty-node");
const SERVER = "patchcord server";
const EXEC = "patchcord exec";
const EMPTY = "empty Bun";
const NETNS_TRUE = "ip netns exec true";
/** What spawning any process costs the bench (outside the node namespace). */
const TRUE = "true (spawn floor)";

// ---------- the resident server ----------

const socket = join(scratch, "cni.sock");
const serverLog = join(scratch, "server.log");
const serverEnv = { PATCHCORD_SOCKET: socket };
/** A socket that does not exist: the shim finds no server and execve's dist/bin/patchcord. */
const execEnv = { PATCHCORD_SOCKET: join(scratch, "no-server.sock") };
let server; // { child, pid, exited: {code, signal} | undefined, done: Promise }

async function startServer() {
  const fd = openSync(serverLog, "a");
  const child = spawn(join(bin.bun, "patchcord"), ["serve", "--socket", socket], {
    env: { PATH: process.env.PATH, PATCHCORD_SERVER_LOG: "requests" },
    stdio: ["ignore", "ignore", fd],
    detached: true, // its own process group: a ^C reaches the bench, which stops it in order
  });
  closeSync(fd);
  server = { child, pid: child.pid, exited: undefined };
  server.done = new Promise((resolve) => child.on("exit", (code, signal) => resolve((server.exited = { code, signal }))));
  cleanups.push(stopServer);
  const deadline = Date.now() + 15_000;
  while (!readFileSync(serverLog, "utf8").includes("serving CNI calls")) {
    if (server.exited) throw new Error(`patchcord serve exited (${JSON.stringify(server.exited)}) before serving:\n${readFileSync(serverLog, "utf8")}`);
    if (Date.now() > deadline) throw new Error(`patchcord serve did not listen on ${socket} within 15 s:\n${readFileSync(serverLog, "utf8")}`);
    await sleep(20);
  }
}

async function stopServer() {
  if (!server || server.exited) return;
  server.child.kill("SIGTERM");
  let timer;
  const left = await Promise.race([server.done, new Promise((r) => (timer = setTimeout(r, 10_000)))]);
  clearTimeout(timer);
  if (!left) {
    console.log(`  patchcord serve (pid ${server.pid}) did not stop within 10 s of SIGTERM: SIGKILL`);
    server.child.kill("SIGKILL");
    await server.done;
  }
}

/** Fails loudly when the server is gone: the shims would quietly fall back to exec mode. */
function assertServer(where) {
  if (server?.exited) throw new Error(`patchcord serve exited (${JSON.stringify(server.exited)}) during ${where}; its log:\n${readFileSync(serverLog, "utf8").split("\n").slice(-20).join("\n")}`);
}

const REQUEST_LINE = /^patchcord serve: (\S+) (\S+) (\S+) (\S+): (\d+) \((\d+(?:\.\d+)?) ms\)$/;

/** The request lines of the server's log. */
function requestLog() {
  const calls = [];
  const other = [];
  for (const line of readFileSync(serverLog, "utf8").split("\n")) {
    if (!line) continue;
    const m = REQUEST_LINE.exec(line);
    if (m) calls.push({ plugin: m[1], command: m[2], cid: m[3], ifname: m[4], code: Number(m[5]), ms: Number(m[6]) });
    else other.push(line);
  }
  return { calls, other };
}

/** Container ids of measured server-mode calls, by case. */
const serverCalls = new Map(); // case -> Set of container ids
function note(label, cid) {
  if (!serverCalls.has(label)) serverCalls.set(label, new Set());
  serverCalls.get(label).add(cid);
}

/** The server's own milliseconds for a case's measured calls, by command; and how many calls it never logged. */
function serverSide(label, plugin) {
  const ids = serverCalls.get(label) ?? new Set();
  const byOp = {};
  const seen = new Set();
  for (const c of requestLog().calls) {
    if (c.plugin !== plugin || !ids.has(c.cid)) continue;
    (byOp[c.command] ??= []).push(c.ms);
    seen.add(c.cid);
    if (c.code !== 0) console.log(`  server log: ${plugin} ${c.command} ${c.cid} answered ${c.code}`);
  }
  const missing = [...ids].filter((id) => !seen.has(id)).length;
  if (missing) console.log(`  ${missing} of ${ids.size} server-mode calls of ${label} are not in the server's log (did the shim fall back?)`);
  return { byOp, missing };
}

// ---------- VERSION and host-local, in the bench's own namespace ----------

async function benchVersion() {
  const input = '{"cniVersion":"1.0.0"}';
  const env = { CNI_COMMAND: "VERSION" };
  const paths = {
    [SERVER]: [shim("host-local"), serverEnv],
    [EXEC]: [shim("host-local"), execEnv],
    // The multi-call binary itself, as the plugin named by its first argument: exec mode without the shim.
    "patchcord binary (no shim)": [join(bin.bun, "patchcord"), {}, ["host-local"]],
    "patchcord (Node SEA)": [join(bin.sea, "host-local"), {}],
    "reference host-local": [join(REF, "host-local"), {}],
    [EMPTY]: [emptyBun, {}],
    "empty (Node SEA)": [emptyNode, {}],
    [TRUE]: ["/bin/true", {}],
  };
  if (!server) delete paths[SERVER];
  for (const [name, [p]] of Object.entries(paths)) if (!existsSync(p)) delete paths[name];
  const subjects = Object.fromEntries(Object.entries(paths).map(([name, [p, e, a = []]]) => [name, () => timed(p, a, { ...env, ...e }, input)]));
  const s = await interleave(subjects);
  const rows = [];
  for (const [name, [p, e, a = []]] of Object.entries(paths)) rows.push({ name, median: median(s[name].op), p90: quantile(s[name].op, 0.9), peak: await peakMiB(p, a, { ...env, ...e }, input) });
  printTable(`VERSION (${RUNS} interleaved rounds)`, rows);
  const m = Object.fromEntries(rows.map((r) => [r.name, r.median]));
  const calls = requestLog().calls.filter((c) => c.command === "VERSION").map((c) => c.ms);
  if (server) console.log("  " + info("VERSION server mode (shim) / reference", ratio(m[SERVER], m["reference host-local"])));
  console.log(`  exec / empty Bun ${fmt(ratio(m[EXEC], m[EMPTY]), 2)}x; exec / binary without the shim ${fmt(ratio(m[EXEC], m["patchcord binary (no shim)"]), 2)}x; server-side median ${fmt(median(calls), 0)} ms (${calls.length} calls)`);
  results.version = { rows, samples: s, serverMs: calls };
  summary.push({ name: "VERSION", m, serverMs: median(calls), ref: "reference host-local" });
}

async function benchHostLocal() {
  const conf = (dataDir) => JSON.stringify({ cniVersion: "1.0.0", name: "bench", type: "bridge", ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.99.0.0/16" }]] } });
  const impl = { [SERVER]: [shim("host-local"), serverEnv], [EXEC]: [shim("host-local"), execEnv], "reference host-local": [join(REF, "host-local"), {}] };
  if (!server) delete impl[SERVER];
  const subjects = {};
  const inputs = {};
  const base = (name, cid) => ({ CNI_CONTAINERID: cid, CNI_NETNS: "/proc/self/ns/net", CNI_IFNAME: "eth0", CNI_PATH: dirname(impl[name][0]), ...impl[name][1] });
  for (const [name, [path]] of Object.entries(impl)) {
    const dir = mkdtempSync(join(scratch, "hl-"));
    inputs[name] = conf(dir);
    const key = name.replace(/\W+/g, "");
    subjects[name] = async (round, measured) => {
      const cid = `hl-${key}-${round}`;
      if (name === SERVER && measured) note("host-local", cid);
      const add = await timed(path, [], { ...base(name, cid), CNI_COMMAND: "ADD" }, inputs[name]);
      const del = await timed(path, [], { ...base(name, cid), CNI_COMMAND: "DEL" }, inputs[name]);
      return { ADD: add, DEL: del };
    };
  }
  subjects[EMPTY] = async () => ({ ADD: await timed(emptyBun, [], {}, inputs[EXEC]), DEL: await timed(emptyBun, [], {}, inputs[EXEC]) });
  subjects[TRUE] = async () => ({ ADD: await timed("/bin/true", [], {}, ""), DEL: await timed("/bin/true", [], {}, "") });
  const s = await interleave(subjects);
  assertServer("host-local");
  const side = server ? serverSide("host-local", "host-local").byOp : {};
  for (const op of ["ADD", "DEL"]) {
    const rows = [];
    for (const name of Object.keys(subjects)) {
      const peak = impl[name] ? await peakMiB(impl[name][0], [], { ...base(name, `peak-${op}`), CNI_COMMAND: op }, inputs[name]) : undefined;
      rows.push({ name, median: median(s[name][op]), p90: quantile(s[name][op], 0.9), peak });
    }
    printTable(`host-local ${op} (${RUNS} interleaved rounds)`, rows);
    const m = Object.fromEntries(rows.map((r) => [r.name, r.median]));
    const pk = Object.fromEntries(rows.map((r) => [r.name, r.peak]));
    console.log(`  server / reference ${fmt(ratio(m[SERVER], m["reference host-local"]), 2)}x; exec / empty Bun ${fmt(ratio(m[EXEC], m[EMPTY]), 2)}x`);
    if (server) console.log(`  where the time goes: server ${fmt(m[SERVER])} ms = ${fmt(median(side[op]), 0)} ms server-side + ${fmt(m[SERVER] - median(side[op]))} ms (spawn floor ~${fmt(m[TRUE])}, shim start + socket ~${fmt(m[SERVER] - median(side[op]) - m[TRUE])})`);
    if (op === "ADD" && pk[EXEC] !== undefined) console.log("  " + target("peak memory, exec mode host-local ADD (the Bun binary; earlier target)", pk[EXEC], 48, " MiB"));
    results[`host-local ${op}`] = { rows, samples: Object.fromEntries(Object.keys(s).map((n) => [n, s[n][op]])), serverMs: side[op] };
    summary.push({ name: `host-local ${op}`, m, serverMs: median(side[op]), ref: "reference host-local" });
  }
}

// ---------- the plugins: in a throwaway node namespace ----------

const inNode = (cmd, args = []) => ["ip", ["netns", "exec", node, cmd, ...args]];
async function sh(cmd, args) {
  return execa(cmd, args, { reject: false });
}

async function setupNode() {
  await sh("ip", ["netns", "add", node]);
  cleanups.push(() => sh("ip", ["netns", "del", node]));
  await sh("ip", ["-n", node, "link", "set", "lo", "up"]);
}

/** Each implementation its own subnet (and bridge): srv, exec and ref never share state. */
const IMPL_OFFSET = { srv: 0, exec: 2, ref: 4 };
const third = (base, impl, ipMasq) => base + IMPL_OFFSET[impl] + (ipMasq ? 1 : 0);

/** The same conflist for every implementation, on its own bridge and subnet. */
function bridgeConf(impl, ipMasq, dataDir, base = 100, kind = "") {
  return JSON.stringify({
    cniVersion: "1.0.0",
    name: `bench-${impl}-${kind}${ipMasq ? "masq" : "plain"}`,
    type: "bridge",
    bridge: `${tag}${impl[0]}${kind}${ipMasq ? "m" : "p"}`,
    isGateway: true,
    ipMasq,
    ipam: { type: "host-local", dataDir, ranges: [[{ subnet: `198.18.${third(base, impl, ipMasq)}.0/24` }]] },
  });
}

/** The same veth-routed / ptp conflist for every implementation. */
function routedConf(impl, ipMasq, dataDir) {
  return JSON.stringify({
    cniVersion: "1.0.0",
    name: `bench-rt-${impl}-${ipMasq ? "masq" : "plain"}`,
    type: impl === "ref" ? "ptp" : "veth-routed",
    ipMasq,
    ipam: { type: "host-local", dataDir, ranges: [[{ subnet: `198.18.${third(120, impl, ipMasq)}.0/24` }]] },
  });
}

/** macvlan children of a veth end inside the node namespace (never a real NIC). */
function macvlanConf(impl, _ipMasq, dataDir) {
  return JSON.stringify({
    cniVersion: "1.0.0",
    name: `bench-mv-${impl}`,
    type: "macvlan",
    master: "benchmst0",
    ipam: { type: "host-local", dataDir, ranges: [[{ subnet: `198.18.${third(140, impl, false)}.0/24` }]] },
  });
}

let podSeq = 0;
async function newPod() {
  if (cleaning) throw new Error("stopping: no new pods");
  const name = `${tag}p${podSeq++}`;
  await sh("ip", ["netns", "add", name]);
  return name;
}

const podEnv = (pod, cniPath, command, extra) => ({ CNI_COMMAND: command, CNI_CONTAINERID: pod, CNI_NETNS: `/run/netns/${pod}`, CNI_IFNAME: "eth0", CNI_PATH: cniPath, ...extra });

/** ADD then DEL of one pod, each run inside the node namespace; `label` notes a measured server-mode call. */
async function podAddDel(path, cniPath, conf, extra, label) {
  const pod = await newPod();
  if (label) note(label, pod);
  const [cmd, args] = inNode(path);
  try {
    const add = await timed(cmd, args, podEnv(pod, cniPath, "ADD", extra), conf);
    const del = await timed(cmd, args, podEnv(pod, cniPath, "DEL", extra), conf);
    return { ADD: add, DEL: del };
  } finally {
    await sh("ip", ["netns", "del", pod]);
  }
}

/** Peak RSS of one ADD (GNU time inside the node namespace), the pod deleted after. */
async function podPeak(path, cniPath, conf, extra) {
  const pod = await newPod();
  try {
    const peak = await peakMiB(path, [], podEnv(pod, cniPath, "ADD", extra), conf, inNode);
    const [cmd, args] = inNode(path);
    await timed(cmd, args, podEnv(pod, cniPath, "DEL", extra), conf).catch((e) => console.log(`  peak pod DEL: ${e.message}`));
    return peak;
  } finally {
    await sh("ip", ["netns", "del", pod]);
  }
}

/** Two invocations of argv inside the node namespace, as the ADD and DEL of a floor subject. */
async function twiceInNode(path, input) {
  const [cmd, args] = inNode(path);
  return { ADD: await timed(cmd, args, {}, input), DEL: await timed(cmd, args, {}, input) };
}

/**
 * ADD and DEL of one plugin in both modes against its reference, interleaved with the empty Bun
 * executable and `ip netns exec true`, all inside the node namespace.
 *   serverLimit(op, ipMasq) / execLimit(op, ipMasq): a target's limit, or undefined for none
 */
async function benchPlugin(label, plugin, reference, conf, { masqVariants = [false, true], serverLimit, execLimit }) {
  const refName = `reference ${reference.split("/").pop()}`;
  for (const ipMasq of masqVariants) {
    const name = `${label}${ipMasq ? " ipMasq" : ""}`;
    const dirs = { srv: mkdtempSync(join(scratch, "pl-")), exec: mkdtempSync(join(scratch, "pl-")), ref: mkdtempSync(join(scratch, "pl-")) };
    const confs = { srv: conf("srv", ipMasq, dirs.srv), exec: conf("exec", ipMasq, dirs.exec), ref: conf("ref", ipMasq, dirs.ref) };
    const subjects = {
      [SERVER]: (_round, measured) => podAddDel(shim(plugin), bin.bun, confs.srv, serverEnv, measured ? name : undefined),
      [EXEC]: () => podAddDel(shim(plugin), bin.bun, confs.exec, execEnv),
      [refName]: () => podAddDel(reference, REF, confs.ref, {}),
      [EMPTY]: () => twiceInNode(emptyBun, confs.exec),
      [NETNS_TRUE]: () => twiceInNode("true", ""),
    };
    if (!server) delete subjects[SERVER];
    const s = await interleave(subjects);
    assertServer(name);
    const side = server ? serverSide(name, plugin).byOp : {};
    // Peak RSS of one ADD (only for plain bridge: the shim's own target is measured there).
    const peaks = {};
    if (label === "bridge" && !ipMasq) {
      if (server) peaks[SERVER] = await podPeak(shim(plugin), bin.bun, confs.srv, serverEnv);
      peaks[EXEC] = await podPeak(shim(plugin), bin.bun, confs.exec, execEnv);
      peaks[refName] = await podPeak(reference, REF, confs.ref, {});
      assertServer(`${name} peak`);
    }
    for (const op of ["ADD", "DEL"]) {
      const rows = Object.keys(subjects).map((n) => ({ name: n, median: median(s[n][op]), p90: quantile(s[n][op], 0.9), peak: op === "ADD" ? peaks[n] : undefined }));
      printTable(`${name} ${op} (${RUNS} interleaved rounds, each inside ip netns exec)`, rows);
      const m = Object.fromEntries(rows.map((r) => [r.name, r.median]));
      const sl = serverLimit(op, ipMasq);
      const srvRatio = ratio(m[SERVER], m[refName]);
      if (server) console.log("  " + (sl === undefined ? `server / reference: ${fmt(srvRatio, 2)}x` : target(`${name} ${op} server / reference`, srvRatio, sl)));
      const el = execLimit(op, ipMasq);
      const execRatio = ratio(m[EXEC], m[EMPTY]);
      console.log("  " + (el === undefined ? `exec / empty Bun: ${fmt(execRatio, 2)}x` : target(`${name} ${op} exec / empty Bun`, execRatio, el)) + `; exec / reference ${fmt(ratio(m[EXEC], m[refName]), 2)}x`);
      if (server) {
        const own = median(side[op]);
        console.log(`  where the time goes: server ${fmt(m[SERVER])} ms = ${fmt(own, 0)} ms server-side (the plugin's work) + ${fmt(m[SERVER] - own)} ms (ip netns exec ~${fmt(m[NETNS_TRUE])}, shim start + socket ~${fmt(m[SERVER] - own - m[NETNS_TRUE])}); exec ${fmt(m[EXEC])} ms = empty Bun ${fmt(m[EMPTY])} + ${fmt(m[EXEC] - m[EMPTY])} ms`);
      }
      if (op === "ADD" && peaks[SERVER] !== undefined) console.log("  " + target("peak RSS of one shim invocation (server mode, bridge ADD)", peaks[SERVER], 8, " MiB"));
      results[`${name} ${op}`] = { rows, samples: Object.fromEntries(Object.keys(s).map((n) => [n, s[n][op]])), serverMs: side[op] };
      summary.push({ name: `${name} ${op}`, m, serverMs: median(side[op]), ref: refName });
    }
  }
}

async function benchBridge() {
  await benchPlugin("bridge", "bridge", join(REF, "bridge"), bridgeConf, { serverLimit: () => 1.0, execLimit: (op, ipMasq) => (op === "ADD" && !ipMasq ? 1.5 : undefined) });
}

async function benchVethRouted() {
  await benchPlugin("veth-routed", "veth-routed", join(REF, "ptp"), routedConf, {
    serverLimit: (_op, ipMasq) => (ipMasq ? undefined : 1.0),
    execLimit: (op, ipMasq) => (op === "ADD" && !ipMasq ? 1.5 : undefined),
  });
}

async function benchMacvlan() {
  await sh("ip", ["netns", "exec", node, "ip", "link", "add", "benchmst0", "type", "veth", "peer", "name", "benchmst1"]);
  for (const l of ["benchmst0", "benchmst1"]) await sh("ip", ["netns", "exec", node, "ip", "link", "set", l, "up"]);
  await benchPlugin("macvlan", "macvlan", join(REF, "macvlan"), macvlanConf, { masqVariants: [false], serverLimit: () => 1.0, execLimit: (op) => (op === "ADD" ? 1.5 : undefined) });
}

/** The pods of each measured server-mode burst round. */
const burstWaves = [];

/** n concurrent ADDs, then n concurrent DELs: wall milliseconds of each wave. */
async function burst(path, cniPath, conf, extra, n, label) {
  const pods = [];
  for (let i = 0; i < n; i++) pods.push(await newPod());
  if (label) {
    for (const p of pods) note(label, p);
    burstWaves.push(pods);
  }
  const [cmd, args] = inNode(path);
  try {
    const t0 = process.hrtime.bigint();
    await Promise.all(pods.map((p) => timed(cmd, args, podEnv(p, cniPath, "ADD", extra), conf)));
    const t1 = process.hrtime.bigint();
    await Promise.all(pods.map((p) => timed(cmd, args, podEnv(p, cniPath, "DEL", extra), conf)));
    const t2 = process.hrtime.bigint();
    return { ADD: Number(t1 - t0) / 1e6, DEL: Number(t2 - t1) / 1e6 };
  } finally {
    for (const p of pods) await sh("ip", ["netns", "del", p]);
  }
}

async function benchBurst() {
  const rounds = Math.max(5, Math.round(RUNS / 3));
  const dirs = { srv: mkdtempSync(join(scratch, "burst-")), exec: mkdtempSync(join(scratch, "burst-")), ref: mkdtempSync(join(scratch, "burst-")) };
  const conf = (impl) => bridgeConf(impl, false, dirs[impl], 160, "b");
  const label = "burst";
  const subjects = {
    [SERVER]: (_r, measured) => burst(shim("bridge"), bin.bun, conf("srv"), serverEnv, 20, measured ? label : undefined),
    [EXEC]: () => burst(shim("bridge"), bin.bun, conf("exec"), execEnv, 20),
    "reference bridge": () => burst(join(REF, "bridge"), REF, conf("ref"), {}, 20),
  };
  if (!server) delete subjects[SERVER];
  const s = await interleave(subjects, rounds, 1);
  assertServer("burst");
  const side = server ? serverSide(label, "bridge").byOp : {};
  for (const op of ["ADD", "DEL"]) {
    const rows = Object.keys(subjects).map((name) => ({ name, median: median(s[name][op]), p90: quantile(s[name][op], 0.9) }));
    printTable(`bridge burst: 20 concurrent ${op}s, wall time of the wave (${rounds} rounds + 1 warm-up, interleaved)`, rows);
    const m = Object.fromEntries(rows.map((r) => [r.name, r.median]));
    if (server) {
      console.log("  " + target(`bridge 20-pod burst ${op} server / reference`, ratio(m[SERVER], m["reference bridge"]), 1.0));
      // The server's ms of one wave's 20 calls added up: near the wave's wall time, the calls ran one after another.
      const calls = requestLog().calls.filter((c) => c.plugin === "bridge" && c.command === op);
      const sums = burstWaves.map((pods) => calls.filter((c) => pods.includes(c.cid)).reduce((a, c) => a + c.ms, 0));
      console.log(`  server-side per call: median ${fmt(median(side[op]), 0)} ms, max ${fmt(side[op]?.length ? Math.max(...side[op]) : undefined, 0)} ms; summed over a wave's 20 calls: median ${fmt(median(sums), 0)} ms (wall ${fmt(m[SERVER], 0)}); exec / reference ${fmt(ratio(m[EXEC], m["reference bridge"]), 2)}x`);
      results[`burst ${op} server-side sums`] = sums;
    }
    results[`burst ${op}`] = { rows, samples: Object.fromEntries(Object.keys(s).map((n) => [n, s[n][op]])), serverMs: side[op] };
    summary.push({ name: `burst(20) ${op}`, m, serverMs: median(side[op]), ref: "reference bridge" });
  }
}

// ---------- memory: the server's RSS over many calls ----------

function serverMemory() {
  const status = readFileSync(`/proc/${server.pid}/status`, "utf8");
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
  return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 };
}

async function benchMemory() {
  const WORKERS = 4;
  const STEP = Math.min(1000, PAIRS);
  // The allocator and the JIT settle first (over 40,000 pairs here the server grew over the first
  // ~10,000 and then stayed within 1 MiB), so a warm-up of 2,000 pairs comes before the PAIRS measured.
  const WARM = Math.min(2000, PAIRS);
  const TOTAL = WARM + PAIRS;
  const dir = mkdtempSync(join(scratch, "mem-"));
  const input = JSON.stringify({ cniVersion: "1.0.0", name: "bench-mem", type: "bridge", ipam: { type: "host-local", dataDir: dir, ranges: [[{ subnet: "10.98.0.0/16" }]] } });
  const env = (cid, command) => ({ CNI_COMMAND: command, CNI_CONTAINERID: cid, CNI_NETNS: "/proc/self/ns/net", CNI_IFNAME: "eth0", CNI_PATH: bin.bun, ...serverEnv });
  const logBefore = requestLog().calls.length;
  const series = [{ pairs: 0, ...serverMemory() }];
  let failures = 0;
  const firstFailures = [];
  let done = 0;
  const t0 = Date.now();
  while (done < TOTAL) {
    const batch = Math.min(STEP, TOTAL - done);
    let next = done;
    const end = done + batch;
    const worker = async () => {
      while (next < end) {
        const cid = `mem-${next++}`;
        for (const command of ["ADD", "DEL"]) {
          try {
            await timed(shim("host-local"), [], env(cid, command), input);
          } catch (e) {
            failures++;
            if (firstFailures.length < 3) firstFailures.push(e.message.slice(0, 300));
          }
        }
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
    done = end;
    assertServer("memory");
    series.push({ pairs: done, ...serverMemory() });
  }
  const seconds = (Date.now() - t0) / 1000;
  const calls = requestLog().calls.slice(logBefore).filter((c) => c.cid.startsWith("mem-"));
  const nonZero = calls.filter((c) => c.code !== 0).length;
  console.log(`\nmemory: the server's RSS over ${WARM} warm-up and ${PAIRS} measured host-local ADD/DEL pairs through the shim (server mode, ${WORKERS} workers, ${fmt(seconds, 0)} s, ${fmt((2 * TOTAL) / seconds, 0)} calls/s)`);
  console.log("  pairs   " + series.map((p) => String(p.pairs).padStart(6)).join(""));
  console.log("  VmRSS   " + series.map((p) => fmt(p.rss).padStart(6)).join("") + "  MiB");
  console.log("  VmHWM   " + series.map((p) => fmt(p.hwm).padStart(6)).join("") + "  MiB");
  // Medians of three samples at each end of the measured part: one sample may catch a collection's peak.
  const measured = series.filter((p) => p.pairs >= WARM);
  const first = median(measured.slice(0, 3).map((p) => p.rss));
  const last = median(measured.slice(-3).map((p) => p.rss));
  console.log("  " + target(`memory flat: server VmRSS at the end of the ${PAIRS} measured pairs (${fmt(last)} MiB, median of the last 3 samples) vs at their start (${fmt(first)} MiB, first 3), at most 10% above`, last / first, 1.1));
  const allOk = failures === 0 && nonZero === 0 && calls.length === 2 * TOTAL;
  const okText = `memory: every one of the ${2 * TOTAL} calls answered with exit 0: ${failures} shim exits non-zero, ${nonZero} non-zero codes and ${calls.length} calls in the server log ${allOk ? "ok" : "MISSED"}`;
  targets.push(okText);
  console.log("  " + okText);
  for (const f of firstFailures) console.log(`  failure: ${f}`);
  results.memory = { warmup: WARM, pairs: PAIRS, workers: WORKERS, seconds, series, failures, nonZero, logged: calls.length, serverMs: { median: median(calls.map((c) => c.ms)), p90: quantile(calls.map((c) => c.ms), 0.9) } };
}

// ---------- the closing summary ----------

function printSummary() {
  if (!summary.length) return;
  console.log("\nSummary: medians in ms (srv-side: the server's own ms per call, from its request log; floor: spawning `true`, inside ip netns exec for the plugins)");
  const head = ["case", "server", "srv-side", "exec", "reference", "empty Bun", "floor", "srv/ref", "exec/empty"];
  const lines = summary.map(({ name, m, serverMs, ref }) => [
    name,
    fmt(m[SERVER]),
    fmt(serverMs, 0),
    fmt(m[EXEC]),
    fmt(m[ref]),
    fmt(m[EMPTY]),
    fmt(m[NETNS_TRUE] ?? m[TRUE]),
    fmt(ratio(m[SERVER], m[ref]), 2),
    fmt(ratio(m[EXEC], m[EMPTY]), 2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const line = (cells) => "  " + cells.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ");
  console.log(line(head));
  for (const l of lines) console.log(line(l));
}

// ---------- main ----------

function cleanup() {
  return (cleaning ??= (async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (e) {
        console.error(`cleanup: ${e.message}`);
      }
    }
    const left = (await sh("ip", ["netns", "list"])).stdout.split("\n").filter((l) => l.startsWith(tag));
    for (const l of left) await sh("ip", ["netns", "del", l.split(" ")[0]]);
    rmSync(scratch, { recursive: true, force: true });
  })());
}

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, async () => {
    console.error(`\n${sig}: cleaning up`);
    await cleanup();
    process.exit(130);
  });
}
// Last resort (an exit that skips the finally): the server must not outlive the bench.
process.on("exit", () => {
  if (server && !server.exited) server.child.kill("SIGTERM");
  rmSync(scratch, { recursive: true, force: true });
});

let failed = false;
try {
  if (!argv.includes("--no-build")) execFileSync(process.execPath, [join(root, "scripts/build.mjs"), "--sea"], { stdio: "inherit" });
  console.log(`patchcord benchmark: ${RUNS} measured rounds per case, ${WARMUP} warm-up rounds, interleaved; machine: ${execFileSync("nproc").toString().trim()} cores, load ${execFileSync("cat", ["/proc/loadavg"]).toString().split(" ").slice(0, 3).join(" ")}`);
  if (isRoot) {
    await startServer();
    console.log(`server: dist/bin/patchcord serve --socket ${socket} (pid ${server.pid}); exec mode: PATCHCORD_SOCKET=${execEnv.PATCHCORD_SOCKET} (no such socket)`);
  } else console.log("server mode: skipped (patchcord serve needs root)");
  if (only.includes("version")) await benchVersion();
  if (only.includes("host-local")) await benchHostLocal();
  if (["bridge", "burst", "veth-routed", "macvlan"].some((g) => only.includes(g))) {
    if (!isRoot) console.log("\nbridge, veth-routed, macvlan, burst: skipped (needs root)");
    else {
      await setupNode();
      if (only.includes("bridge")) await benchBridge();
      if (only.includes("veth-routed")) await benchVethRouted();
      if (only.includes("macvlan")) await benchMacvlan();
      if (only.includes("burst")) await benchBurst();
    }
  }
  if (only.includes("memory")) {
    if (!server) console.log("\nmemory: skipped (needs the server, so root)");
    else await benchMemory();
  }
  printSummary();
  console.log("\nTargets:");
  for (const t of targets) console.log("  " + t);
  if (server) {
    const { calls, other } = requestLog();
    const odd = other.filter((l) => !/serving CNI calls|: stopping$|stopped$/.test(l));
    const bad = calls.filter((c) => c.code !== 0);
    console.log(`\nserver log: ${calls.length} calls, ${bad.length} with a non-zero code, ${odd.length} other lines${odd.length ? ":" : ""}`);
    for (const l of odd.slice(0, 10)) console.log("  " + l);
    for (const c of bad.slice(0, 10)) console.log(`  ${c.plugin} ${c.command} ${c.cid}: ${c.code}`);
    results.serverLog = { calls: calls.length, nonZero: bad.length, other: odd };
  }
  console.log(`\nbench took ${fmt((Date.now() - began) / 1000, 0)} s`);
  const jsonFile = flag("--json");
  if (jsonFile) writeFileSync(jsonFile, JSON.stringify({ runs: RUNS, warmup: WARMUP, targets, results }, null, 2));
} catch (e) {
  failed = true;
  console.error(`\nbench failed: ${e.stack ?? e}`);
} finally {
  await cleanup();
  if (server?.exited && server.exited.code !== 0 && server.exited.signal !== "SIGTERM") console.error(`patchcord serve exited ${JSON.stringify(server.exited)}`);
}
process.exitCode = failed ? 1 : 0;
