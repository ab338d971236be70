import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { recordFigure } from "../campaign/figures";
import { BIN, callerEnv, EXEC_MODE, haveBinaries, haveReference, isRoot, REFERENCE_DIR, runId, testIf } from "./helpers";
import { NetLab } from "./netlab";
import { PATCHCORD, ServerProcess } from "./server-process";

// Absurd and undecodable input, as a runtime or a pod could hand it to the real binaries, in exec
// mode and through the resident server: every refusal is the spec's error JSON with the right code
// on stdout, no stack trace anywhere, and nothing changed in the kernel or the IPAM store. Then the
// values only the operator writes (a dataDir with spaces and `..`) work as with the reference.
const it = testIf(isRoot && haveBinaries && existsSync(PATCHCORD), "needs root and the built binaries (npm run build)");
const rid = runId();
const lab = new NetLab(rid);
let dir: string;
let dataDir: string;
let server: ServerProcess | undefined;
let socket: string;
/** Hostile inputs run, by plugin (both modes): the campaign's figures. */
const tried: Record<string, number> = {};
const count = (plugin: string) => (tried[plugin] = (tried[plugin] ?? 0) + 1);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "pc-hostile-"));
  dataDir = join(dir, "ipam");
  if (!isRoot || !haveBinaries) return;
  await lab.create();
  await lab.addPod("pod");
  const sockDir = join(dir, "srv");
  mkdirSync(sockDir, { mode: 0o700 });
  socket = join(sockDir, "cni.sock");
  server = new ServerProcess(socket, lab.node);
  await server.ready();
}, 30_000);
afterAll(async () => {
  server?.kill("SIGTERM");
  await server?.exited;
  await lab.destroy();
  rmSync(dir, { recursive: true, force: true });
  for (const [plugin, n] of Object.entries(tried)) recordFigure({ suite: "hostile", what: `${plugin}: hostile inputs refused as the spec says (exec and server mode)`, value: n, unit: "inputs" });
}, 30_000);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `plugin` in the node namespace as a runtime would, stdin given as bytes (invalid UTF-8 too). */
function runIn(binary: string, env: Record<string, string>, stdin: Buffer): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn("ip", ["netns", "exec", lab.node, binary], { env: { ...callerEnv(), ...env }, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on("data", (c: Buffer) => out.push(c));
    p.stderr.on("data", (c: Buffer) => err.push(c));
    p.stdin.on("error", () => undefined); // a plugin that stops reading early
    p.stdin.end(stdin);
    p.on("close", (code) => resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  });
}

const MODES = ["exec", "server"] as const;
type Mode = (typeof MODES)[number];
const modeEnv = (mode: Mode): Record<string, string> => (mode === "exec" ? EXEC_MODE : { PATCHCORD_SOCKET: socket });

const attachment = (command: string, extra: Record<string, string> = {}) => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: "hostile1",
  CNI_NETNS: `/run/netns/${rid}pod`,
  CNI_IFNAME: "eth0",
  CNI_PATH: BIN,
  ...extra,
});

const ipam = () => ({ type: "host-local", dataDir, ranges: [[{ subnet: "198.19.7.0/24" }]] });
/** A valid config of each plugin: the hostile cases spoil one part of it. */
const base = (plugin: string): Record<string, unknown> => {
  const common = { cniVersion: "1.0.0", name: `${rid}net`, type: plugin };
  switch (plugin) {
    case "bridge":
      return { ...common, bridge: `${rid}br`, ipam: ipam() };
    case "veth-routed":
    case "host-local":
      return { ...common, ipam: ipam() };
    default:
      return { ...common, master: "lo", ipam: ipam() };
  }
};

/** What the kernel and the store look like: names of links and addresses in the node and the pod, files in the store. */
async function snapshot(): Promise<string> {
  const files = (d: string): string[] =>
    existsSync(d) ? readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(d, e.name)).map((f) => `${e.name}/${f}`) : [e.name])) : [];
  const node = await NetLab.sh("ip", "-n", lab.node, "-o", "addr");
  const nodeLinks = await NetLab.sh("ip", "-n", lab.node, "-o", "link");
  const pod = await NetLab.sh("ip", "-n", `${rid}pod`, "-o", "addr");
  const strip = (t: string) => t.replace(/\\\s+valid_lft.*$/gm, "").replace(/link\/ether \S+/g, "");
  return [strip(node.stdout), strip(nodeLinks.stdout), strip(pod.stdout), files(dataDir).join(" ")].join("\n--\n");
}

const STACK_LINE = /^\s+at /m;

function expectSpecError(r: Run, code: number, what: string): void {
  const why = `${what}: exit ${r.code}\nstdout: ${r.stdout.slice(0, 600)}\nstderr: ${r.stderr.slice(0, 600)}`;
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    json = undefined;
  }
  if (json?.code !== code || r.code === 0 || STACK_LINE.test(r.stdout) || STACK_LINE.test(r.stderr)) throw new Error(why);
  expect(typeof json.msg).toBe("string");
  expect((json.msg as string).length).toBeGreaterThan(10); // says what is wrong
  expect(r.stdout.length).toBeLessThan(20_000); // a 10 MB input is not echoed back
  expect(r.stderr.length).toBeLessThan(20_000);
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const deepArrays = (levels: number) => "[".repeat(levels) + "]".repeat(levels);
/** `doc` with the placeholder @BYTES@ replaced by raw bytes. */
function withBytes(doc: Buffer, bytes: number[]): Buffer {
  const [a, b] = doc.toString().split("@BYTES@");
  return Buffer.concat([Buffer.from(a), Buffer.from(bytes), Buffer.from(b)]);
}
const spliceRaw = (plugin: string, key: string, rawValue: string) => Buffer.from(JSON.stringify(base(plugin)).replace(/\}$/, `,"${key}":${rawValue}}`));

interface Case {
  what: string;
  code: number;
  stdin: (plugin: string) => Buffer;
  env?: Record<string, string>;
  /** Only for these plugins (default: all). */
  plugins?: string[];
}

const TEN_MB = 10 * 1024 * 1024;
const CASES: Case[] = [
  // Undecodable documents: code 6.
  { what: "a 10 MB document of nested arrays (in args)", code: 6, stdin: (p) => spliceRaw(p, "args", deepArrays(TEN_MB / 2)) },
  { what: "1001 levels in prevResult", code: 6, stdin: (p) => spliceRaw(p, "prevResult", `{"x":${deepArrays(1000)}}`) },
  { what: "1001 levels in runtimeConfig", code: 6, stdin: (p) => spliceRaw(p, "runtimeConfig", `{"x":${deepArrays(1000)}}`) },
  { what: "empty stdin", code: 6, stdin: () => Buffer.alloc(0) },
  { what: "only whitespace", code: 6, stdin: () => Buffer.from(" \n\t ") },
  { what: "a JSON array", code: 6, stdin: (p) => Buffer.from(`[${JSON.stringify(base(p))}]`) },
  { what: "a JSON number", code: 6, stdin: () => Buffer.from("1e308") },
  { what: "a JSON string", code: 6, stdin: () => Buffer.from('"cniVersion"') },
  { what: "JSON null", code: 6, stdin: () => Buffer.from("null") },
  { what: "truncated JSON", code: 6, stdin: (p) => json(base(p)).subarray(0, 30) },
  { what: "invalid UTF-8 in a name", code: 6, stdin: (p) => withBytes(json({ ...base(p), name: "@BYTES@" }), [0xc3, 0x28]) },
  { what: "a lone UTF-16 surrogate as UTF-8 (CESU)", code: 6, stdin: (p) => withBytes(json({ ...base(p), name: "@BYTES@" }), [0xed, 0xa0, 0x80]) },
  // More than the server takes (64 MiB): code 5 in both modes, the same message.
  { what: "a stdin of 64 MiB + 1 byte", code: 5, stdin: (p) => Buffer.concat([json(base(p)), Buffer.alloc(64 * 1024 * 1024 + 1 - json(base(p)).length, 0x20)]), plugins: ["bridge"] },
  { what: "a NUL byte outside strings", code: 6, stdin: (p) => Buffer.concat([json(base(p)), Buffer.from([0])]) },
  // Invalid configs: code 7 (the network name is the spec's pattern; numbers the kernel's ranges).
  { what: "a network name with NUL", code: 7, stdin: (p) => json({ ...base(p), name: "net\u0000x" }) },
  { what: "a network name with a newline", code: 7, stdin: (p) => json({ ...base(p), name: "net\nx" }) },
  { what: "a unicode network name", code: 7, stdin: (p) => json({ ...base(p), name: "nét‮x" }) },
  { what: "a 10 MB network name", code: 7, stdin: (p) => json({ ...base(p), name: "n".repeat(TEN_MB) }) },
  { what: "a 10 MB string of digits as mtu", code: 7, stdin: (p) => json({ ...base(p), mtu: "9".repeat(TEN_MB) }), plugins: ["bridge", "veth-routed", "macvlan", "ipvlan"] },
  { what: "mtu 1e308", code: 7, stdin: (p) => json({ ...base(p), mtu: 1e308 }), plugins: ["bridge", "veth-routed", "macvlan", "ipvlan"] },
  { what: "mtu 2^64", code: 7, stdin: (p) => spliceRaw(p, "mtu", "18446744073709551616"), plugins: ["bridge", "veth-routed", "macvlan", "ipvlan"] },
  { what: "mtu 1e400 (Infinity)", code: 7, stdin: (p) => spliceRaw(p, "mtu", "1e400"), plugins: ["bridge", "veth-routed", "macvlan", "ipvlan"] },
  { what: "vlan 1e308", code: 7, stdin: (p) => json({ ...base(p), vlan: 1e308 }), plugins: ["bridge"] },
  { what: "vlan 4095", code: 7, stdin: (p) => json({ ...base(p), vlan: 4095 }), plugins: ["bridge"] },
  { what: "a bridge name with a newline", code: 7, stdin: (p) => json({ ...base(p), bridge: "br\n0" }), plugins: ["bridge"] },
  { what: "a bridge name with # (ip -batch comment)", code: 7, stdin: (p) => json({ ...base(p), bridge: "lo#x" }), plugins: ["bridge"] },
  { what: "a master name with NUL", code: 7, stdin: (p) => json({ ...base(p), master: "lo\u0000" }), plugins: ["macvlan", "ipvlan"] },
  { what: "an IPAM route table of 2^40", code: 7, stdin: (p) => json({ ...base(p), ipam: { ...ipam(), routes: [{ dst: "0.0.0.0/0", table: 2 ** 40 }] } }), plugins: ["host-local"] },
  { what: "a range of 1e308", code: 7, stdin: (p) => json({ ...base(p), ipam: { ...ipam(), ranges: [[{ subnet: 1e308 }]] } }), plugins: ["host-local"] },
  { what: "a relative dataDir", code: 7, stdin: (p) => json({ ...base(p), ipam: { ...ipam(), dataDir: "relative/dir" } }), plugins: ["host-local"] },
  { what: "a dataDir with NUL", code: 7, stdin: (p) => json({ ...base(p), ipam: { ...ipam(), dataDir: `${dataDir}\u0000x` } }), plugins: ["host-local"] },
  { what: "a dataDir with a newline", code: 7, stdin: (p) => json({ ...base(p), ipam: { ...ipam(), dataDir: `${dataDir}\nx` } }), plugins: ["host-local"] },
  // Values from the runtime or a pod stay strict: code 4 (environment) or 6/7 (prevResult, runtimeConfig).
  { what: "a container id with ..", code: 4, stdin: (p) => json(base(p)), env: { CNI_CONTAINERID: "../../etc" } },
  { what: "a container id with a space", code: 4, stdin: (p) => json(base(p)), env: { CNI_CONTAINERID: "a b" } },
  { what: "an ifname with a newline", code: 4, stdin: (p) => json(base(p)), env: { CNI_IFNAME: "eth0\nx" } },
  { what: "a unicode ifname", code: 4, stdin: (p) => json(base(p)), env: { CNI_IFNAME: "éth0" } },
  { what: "a netns path with ..", code: 4, stdin: (p) => json(base(p)), env: { CNI_NETNS: "/run/netns/../x" } },
  { what: "CNI_ARGS without =", code: 4, stdin: (p) => json(base(p)), env: { CNI_ARGS: "IgnoreUnknown=1;garbage" } },
  { what: "CNI_ARGS IP that is no address", code: 7, stdin: (p) => json(base(p)), env: { CNI_ARGS: "IP=10.0.0.300" }, plugins: ["host-local"] },
  { what: "runtimeConfig.ips of a 10 MB string", code: 7, stdin: (p) => json({ ...base(p), runtimeConfig: { ips: ["1".repeat(TEN_MB)] } }), plugins: ["host-local"] },
  { what: "a prevResult mtu of 1e308", code: 6, stdin: (p) => json({ ...base(p), prevResult: { cniVersion: "1.0.0", interfaces: [{ name: "eth0", mtu: 1e308 }] } }) },
  { what: "a prevResult address with a newline", code: 6, stdin: (p) => json({ ...base(p), prevResult: { cniVersion: "1.0.0", ips: [{ address: "10.0.0.2/24\nx" }] } }) },
];

const PLUGINS = ["bridge", "veth-routed", "macvlan", "ipvlan", "host-local"];

describe.each(MODES)("hostile input, %s mode", (mode) => {
  it(
    "every refusal is the spec's error with the right code, no stack trace, and changes nothing",
    async () => {
      // Calls the server answered: run (its request log) or refused for their stdin's size.
      const answered = () => (server?.served().length ?? 0) + (server?.lines.filter((l) => /refused a call .*its stdin is more than/.test(l)).length ?? 0);
      const served = answered();
      const before = await snapshot();
      let calls = 0;
      for (const c of CASES) {
        for (const plugin of c.plugins ?? PLUGINS) {
          const command = c.code === 4 || c.what.includes("prevResult") ? "DEL" : "ADD";
          for (const cmd of command === "DEL" ? ["ADD", "DEL"] : ["ADD"]) {
            const r = await runIn(join(BIN, plugin), { ...attachment(cmd, c.env), ...modeEnv(mode) }, c.stdin(plugin));
            expectSpecError(r, c.code, `${mode} ${plugin} ${cmd}: ${c.what}`);
            calls++;
            count(plugin);
          }
        }
      }
      expect(await snapshot()).toBe(before);
      // Server mode must really have gone through the server (not fallen back to exec).
      if (mode === "server") expect(answered() - served).toBe(calls);
    },
    90_000,
  );
});

describe.each(MODES)("a delegated IPAM plugin's hostile result, %s mode", (mode) => {
  // A third-party IPAM binary that answers ADD with exit 0 and a document we cannot use: the ADD
  // fails with code 6 (no stack), nothing is wired, and the delegate gets its DEL (it may hold an address).
  it(
    "10 MB of nested arrays, invalid UTF-8 or a non-object as the IPAM result: code 6, and the IPAM plugin's DEL runs",
    async () => {
      const pluginDir = join(dir, `fake-ipam-${mode}`);
      mkdirSync(pluginDir, { recursive: true });
      const outputs: [string, Buffer][] = [
        ["deep", Buffer.from(`{"cniVersion":"1.0.0","ips":${deepArrays(TEN_MB / 2)}}`)],
        // (runCommand reads the delegate's stdout as text, so the byte arrives as U+FFFD: the address is refused.)
        ["utf8", withBytes(Buffer.from('{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/24@BYTES@"}]}'), [0xff])],
        ["array", Buffer.from("[]")],
      ];
      const before = await snapshot();
      for (const [name, output] of outputs) {
        writeFileSync(join(pluginDir, `${name}.out`), output);
        const marker = join(pluginDir, `${name}.del`);
        writeFileSync(join(pluginDir, "fakeipam"), `#!/bin/sh\nif [ "$CNI_COMMAND" = DEL ]; then : > "$FAKE_DIR/$FAKE_CASE.del"; exit 0; fi\ncat "$FAKE_DIR/$FAKE_CASE.out"\n`, { mode: 0o755 });
        const conf = { cniVersion: "1.0.0", name: `${rid}fk`, type: "bridge", bridge: `${rid}fb`, ipam: { type: "fakeipam" } };
        const env = { ...attachment("ADD", { CNI_PATH: `${pluginDir}:${BIN}`, FAKE_DIR: pluginDir, FAKE_CASE: name }), ...modeEnv(mode) };
        const r = await runIn(join(BIN, "bridge"), env, json(conf));
        expectSpecError(r, 6, `${mode} bridge with fakeipam (${name})`);
        expect(existsSync(marker)).toBe(true);
        count("bridge");
      }
      expect(await snapshot()).toBe(before);
    },
    60_000,
  );
});

describe.each(MODES)("the deepest document accepted, %s mode", (mode) => {
  // MAX_JSON_DEPTH (1000) levels must be survivable by everything after the decoding, with the JIT
  // off too (exec mode): the validators, the delegated host-local (which decodes it again), the result.
  it(
    "bridge ADD and DEL with 1000 levels of nesting in args, runtimeConfig and an unknown prevResult key",
    async () => {
      const deepValue = (levels: number) => `{"x":${deepArrays(levels - 2)}}`; // 1 for the root, 1 for this object
      const conf = { cniVersion: "1.0.0", name: `${rid}dp`, type: "bridge", bridge: `${rid}db`, ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "198.19.10.0/24" }]] } };
      const text = JSON.stringify(conf).replace(/\}$/, `,"args":${deepValue(1000)},"runtimeConfig":${deepValue(1000)}}`);
      const env = (cmd: string) => ({ ...attachment(cmd, { CNI_CONTAINERID: `deep${mode}` }), ...modeEnv(mode) });
      const add = await runIn(join(BIN, "bridge"), env("ADD"), Buffer.from(text));
      expect({ code: add.code, stderr: add.stderr }).toEqual({ code: 0, stderr: "" });
      const prev = JSON.parse(add.stdout);
      const withPrev = text.replace(/\}$/, `,"prevResult":${JSON.stringify(prev).replace(/\}$/, `,"extra":${deepArrays(998)}}`)}}`);
      const del = await runIn(join(BIN, "bridge"), env("DEL"), Buffer.from(withPrev));
      expect({ code: del.code, stdout: del.stdout, stderr: del.stderr }).toEqual({ code: 0, stdout: "", stderr: "" });
      await NetLab.sh("ip", "-n", lab.node, "link", "del", `${rid}db`);
      // One more level anywhere is refused.
      const tooDeep = await runIn(join(BIN, "bridge"), env("ADD"), Buffer.from(JSON.stringify(conf).replace(/\}$/, `,"args":${deepValue(1001)}}`)));
      expectSpecError(tooDeep, 6, `${mode}: 1001 levels`);
      expect(JSON.parse(tooDeep.stdout).msg).toBe("error decoding network config: nested more than 1000 levels deep");
    },
    30_000,
  );
});

describe.each(MODES)("operator-controlled paths, %s mode", (mode) => {
  it(
    "a dataDir and resolvConf with spaces and .. components work for bridge ADD and DEL, as with the reference host-local",
    async () => {
      // Written out (path.join would fold the ..): the plugins get the path as the operator wrote it.
      const odd = `${dir}/odd ${mode}/../odd ${mode}/store dir`;
      const resolvDir = join(dir, "etc with space");
      mkdirSync(resolvDir, { recursive: true });
      writeFileSync(join(resolvDir, "resolv.conf"), "nameserver 192.0.2.53\nsearch example.test\n");
      const conf = {
        cniVersion: "1.0.0",
        name: `${rid}op`,
        type: "bridge",
        bridge: `${rid}ob`,
        // A duplicate key: the last one counts, as in Go's encoding/json.
        ipam: { type: "host-local", dataDir: odd, resolvConf: `${resolvDir}/../etc with space/resolv.conf`, ranges: [[{ subnet: "198.19.8.0/24" }]] },
      };
      const stdin = Buffer.from(JSON.stringify(conf).replace(`"type":"bridge"`, `"type":"nonsense","type":"bridge"`));
      const env = (cmd: string) => ({ ...attachment(cmd, { CNI_CONTAINERID: `op${mode}` }), ...modeEnv(mode) });
      const add = await runIn(join(BIN, "bridge"), env("ADD"), stdin);
      expect({ code: add.code, stderr: add.stderr }).toEqual({ code: 0, stderr: "" });
      const result = JSON.parse(add.stdout);
      expect(result.ips[0].address).toMatch(/^198\.19\.8\.\d+\/24$/);
      expect(result.dns).toMatchObject({ nameservers: ["192.0.2.53"], search: ["example.test"] });
      const resolved = join(dir, `odd ${mode}`, "store dir", `${rid}op`);
      expect(readdirSync(resolved)).toContain(result.ips[0].address.split("/")[0]);
      const link = await NetLab.sh("ip", "-n", `${rid}pod`, "-o", "addr", "show", "dev", "eth0");
      expect(link.stdout).toContain(result.ips[0].address);

      const del = await runIn(join(BIN, "bridge"), env("DEL"), stdin);
      expect({ code: del.code, stdout: del.stdout, stderr: del.stderr }).toEqual({ code: 0, stdout: "", stderr: "" });
      expect(readdirSync(resolved).filter((f) => /^\d/.test(f))).toEqual([]);
      expect((await NetLab.sh("ip", "-n", `${rid}pod`, "link", "show", "eth0")).code).not.toBe(0);
      await NetLab.sh("ip", "-n", lab.node, "link", "del", `${rid}ob`);
    },
    30_000,
  );
});

testIf(isRoot && haveReference, "needs root and the reference plugins in /usr/lib/cni")("the reference host-local accepts the same dataDir (what our rule follows)", async () => {
  const odd = `${dir}/ref odd/../ref odd/store`;
  const conf = { cniVersion: "1.0.0", name: `${rid}ref`, type: "host-local", ipam: { type: "host-local", dataDir: odd, ranges: [[{ subnet: "198.19.9.0/24" }]] } };
  const env = (cmd: string) => ({ CNI_COMMAND: cmd, CNI_CONTAINERID: "refodd", CNI_NETNS: `/run/netns/${rid}pod`, CNI_IFNAME: "eth0", CNI_PATH: REFERENCE_DIR });
  const add = await runIn(join(REFERENCE_DIR, "host-local"), env("ADD"), json(conf));
  expect(add.code).toBe(0);
  expect(readdirSync(join(dir, "ref odd", "store", `${rid}ref`))).toContain("198.19.9.2");
  expect((await runIn(join(REFERENCE_DIR, "host-local"), env("DEL"), json(conf))).code).toBe(0);
  // And ours on the very same store finds the same directory: it goes on after the reference's
  // last_reserved_ip (.2), as the reference itself would.
  const ours = await runIn(join(BIN, "host-local"), { ...env("ADD"), CNI_PATH: BIN, ...EXEC_MODE }, json(conf));
  expect(JSON.parse(ours.stdout).ips[0].address).toBe("198.19.9.3/24");
  expect((await runIn(join(BIN, "host-local"), { ...env("DEL"), CNI_PATH: BIN, ...EXEC_MODE }, json(conf))).code).toBe(0);
});
