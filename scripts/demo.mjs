#!/usr/bin/env node
// npm start: the main job until `patchcord lab` lands. Builds the binaries, then, in throwaway
// network namespaces, lets host-local hand two pods their addresses through the CNI exec
// interface, wires the pods together with a veth pair, pings across it, and cleans up.
import { execa } from "execa";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const hostLocal = join(root, "dist/bin/host-local");
const tag = `pcdemo${process.pid.toString(36)}`;
const pods = [`${tag}a`, `${tag}b`];
const dataDir = mkdtempSync(join(tmpdir(), "patchcord-demo-"));
const color = process.stdout.isTTY ? (code, s) => `\x1b[${code}m${s}\x1b[0m` : (_c, s) => s;
const head = (s) => console.log(`\n${color("1", s)}`);
const shown = (argv) => console.log(color("2", `  $ ${argv.join(" ")}`));

const conflist = {
  cniVersion: "1.1.0",
  name: "demo",
  plugins: [{ type: "bridge", bridge: "cni0", ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "198.18.10.0/29" }], [{ subnet: "fd18::/125" }]] } }],
};
const pluginConf = { cniVersion: conflist.cniVersion, name: conflist.name, ...conflist.plugins[0] };

async function sh(argv, { show = true, reject = true } = {}) {
  if (show) shown(argv);
  return execa(argv[0], argv.slice(1), { reject });
}

async function cni(command, pod, extra = {}) {
  const env = { CNI_COMMAND: command, CNI_CONTAINERID: pod, CNI_NETNS: `/run/netns/${pod}`, CNI_IFNAME: "eth0", CNI_PATH: dirname(hostLocal) };
  shown([`CNI_COMMAND=${command}`, `CNI_CONTAINERID=${pod}`, "CNI_IFNAME=eth0", "host-local", "< config"]);
  const r = await execa(hostLocal, [], { env, input: JSON.stringify({ ...pluginConf, ...extra }), reject: false });
  if (r.stdout) console.log(r.stdout.replace(/^/gm, "    "));
  if (r.exitCode !== 0) throw new Error(`host-local ${command} failed: ${r.stdout || r.stderr}`);
  return r.stdout ? JSON.parse(r.stdout) : undefined;
}

function showStore() {
  const dir = join(dataDir, "demo");
  for (const f of readdirSync(dir).sort()) console.log(`    ${f.padEnd(20)} ${JSON.stringify(readFileSync(join(dir, f), "utf8"))}`);
}

async function cleanup() {
  for (const pod of pods) await execa("ip", ["netns", "del", pod], { reject: false });
  rmSync(dataDir, { recursive: true, force: true });
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error("run as root: the demo creates network namespaces");
  head("Building patchcord (Bun single-file executables)");
  await execa(process.execPath, [join(root, "scripts/build.mjs")], { stdio: "inherit" });

  head("Two pods: two network namespaces");
  for (const pod of pods) await sh(["ip", "netns", "add", pod]);

  head(`host-local hands out addresses (dataDir ${dataDir})`);
  const results = [];
  for (const pod of pods) results.push(await cni("ADD", pod));
  console.log("  the store, shared format with the reference host-local:");
  showStore();

  head("Plugging the pods together with a veth pair (what a plugin does with those addresses)");
  const [a, b] = results.map((r) => r.ips.map((ip) => ip.address));
  await sh(["ip", "link", "add", "eth0", "netns", pods[0], "type", "veth", "peer", "name", "eth0", "netns", pods[1]]);
  for (const [pod, addrs] of [[pods[0], a], [pods[1], b]]) {
    for (const addr of addrs) await sh(["ip", "-n", pod, "addr", "add", addr, "dev", "eth0", ...(addr.includes(":") ? ["nodad"] : [])]);
    await sh(["ip", "-n", pod, "link", "set", "eth0", "up"]);
  }
  const target = b[0].split("/")[0];
  const ping = await sh(["ip", "netns", "exec", pods[0], "ping", "-c", "2", "-W", "2", target], { reject: false });
  console.log(ping.exitCode === 0 ? color("32", `  ${pods[0]} reaches ${target}`) : color("31", `  ping failed: ${ping.stderr || ping.stdout}`));

  head("CHECK, then DEL frees the addresses (twice: DEL is idempotent)");
  await cni("CHECK", pods[0], { prevResult: results[0] });
  for (const pod of [...pods, pods[0]]) await cni("DEL", pod);
  showStore();
  return ping.exitCode === 0 ? 0 : 1;
}

let code = 1;
process.on("SIGINT", async () => {
  await cleanup();
  process.exit(130);
});
try {
  code = await main();
} catch (e) {
  console.error(color("31", `demo failed: ${e.message}`));
} finally {
  await cleanup();
}
head(code === 0 ? "Done: everything the demo made has been removed." : "Failed (cleaned up).");
process.exit(code);
