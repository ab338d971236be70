#!/usr/bin/env node
// The native shim (shim/, issue 13): shim/*.ts bundled by Bun into one ES module, compiled to
// bytecode in C by QuickJS's qjsc, linked with QuickJS and shim/native/socket.c into
// dist/bin/patchcord-shim, a static executable. QuickJS itself (the npm package qjsc carries its
// 2021-03-27 release) is built once per source and flag set, cached in dist/.quickjs/<hash>/.
//   node scripts/build-shim.mjs   (npm run build calls buildShim())
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bun = join(root, "node_modules/@oven/bun-linux-x64/bin/bun");
const QUICKJS = join(root, "node_modules/qjsc/deps/quickjs_2021_03_27");
const LIB_SOURCES = ["quickjs.c", "libregexp.c", "libunicode.c", "cutils.c", "quickjs-libc.c"];
// No CONFIG_BIGNUM: no BigInt, no libbf.c. -Os: as fast to start as -O2 here, and smaller.
// The sections let the final link drop what the shim never calls.
const CFLAGS = ["-Os", "-D_GNU_SOURCE", '-DCONFIG_VERSION="2021-03-27"', "-ffunction-sections", "-fdata-sections", "-w"];
// What the shim's JavaScript does without: every intrinsic left out is start-up work not done.
const QJSC_FEATURES = ["date", "eval", "string-normalize", "regexp", "proxy", "map", "promise", "module-loader"].map((f) => `-fno-${f}`);
// Ours is held to warnings as errors; QuickJS's headers are system headers to it.
const NATIVE_CFLAGS = ["-Os", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror", "-ffunction-sections", "-fdata-sections"];
const CC = process.env.CC || "gcc";
const SHIM = join(root, "dist/bin/patchcord-shim");
const WORK = join(root, "dist/.shim");

/** Runs a command, resolving when it exits 0 (its output is shown only when it fails). */
function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"], ...opts });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (out += c));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(" ")} exited ${code}\n${out}`))));
  });
}

/** Runs the jobs (functions returning promises), at most `width` at a time. */
async function pool(jobs, width) {
  const queue = [...jobs];
  const worker = async () => {
    while (queue.length) await queue.shift()();
  };
  await Promise.all(Array.from({ length: Math.min(width, queue.length) }, worker));
}

/** libquickjs.a and the qjsc compiler for these sources and flags, built unless cached. */
async function buildQuickJS(log) {
  const gcc = execFileSync(CC, ["--version"]).toString().split("\n")[0];
  const hash = createHash("sha256");
  hash.update(JSON.stringify({ CC, gcc, CFLAGS }));
  for (const f of [...LIB_SOURCES, "qjsc.c"]) hash.update(f).update(readFileSync(join(QUICKJS, f)));
  for (const f of ["quickjs.h", "quickjs-libc.h", "quickjs-atom.h", "quickjs-opcode.h", "cutils.h", "list.h", "libregexp.h", "libregexp-opcode.h", "libunicode.h", "libunicode-table.h"]) {
    hash.update(f).update(readFileSync(join(QUICKJS, f)));
  }
  const dir = join(root, "dist/.quickjs", hash.digest("hex").slice(0, 16));
  const lib = join(dir, "libquickjs.a");
  const qjsc = join(dir, "qjsc");
  if (existsSync(lib) && existsSync(qjsc)) return { lib, qjsc, cached: true };

  const tmp = `${dir}.tmp${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const started = Date.now();
  const obj = (src) => join(tmp, src.replace(/\.c$/, ".o"));
  // quickjs.c is most of the work: start it first so the small files share the other core.
  await pool(
    [...LIB_SOURCES, "qjsc.c"].map((src) => () => run(CC, [...CFLAGS, "-c", join(QUICKJS, src), "-o", obj(src)])),
    Math.max(2, availableParallelism()),
  );
  await run("ar", ["rcs", join(tmp, "libquickjs.a"), ...LIB_SOURCES.map(obj)]);
  await run(CC, ["-o", join(tmp, "qjsc"), obj("qjsc.c"), join(tmp, "libquickjs.a"), "-lm", "-lpthread", "-ldl"]);
  for (const src of [...LIB_SOURCES, "qjsc.c"]) rmSync(obj(src));
  try {
    renameSync(tmp, dir);
  } catch (e) {
    // A build beside this one got there first (its copy is as good), or a broken leftover is in the way.
    if (existsSync(lib) && existsSync(qjsc)) rmSync(tmp, { recursive: true, force: true });
    else {
      rmSync(dir, { recursive: true, force: true });
      renameSync(tmp, dir);
    }
  }
  // Builds for other sources or flags are not coming back: keep only this one.
  for (const old of readdirSync(dirname(dir))) if (/^[0-9a-f]{16}$/.test(old) && join(dirname(dir), old) !== dir) rmSync(join(dirname(dir), old), { recursive: true, force: true });
  log(`QuickJS built in ${((Date.now() - started) / 1000).toFixed(1)} s (cached in ${dir.slice(root.length + 1)})`);
  return { lib, qjsc, cached: false };
}

/**
 * Runs the new shim once with no server and no binary to fall back to: it must print the code 999
 * error. That evaluates the bundle in QuickJS, so a builtin QuickJS 2021-03-27 lacks (the bundle is
 * not downlevelled) fails the build, not a CNI call.
 */
function smokeTest(shim) {
  const r = spawnSync(shim, [], { env: { PATCHCORD_SOCKET: "/nonexistent/cni.sock", PATCHCORD_BINARY: "/nonexistent/patchcord", CNI_COMMAND: "VERSION" }, encoding: "utf8" });
  let out = {};
  try {
    out = JSON.parse(r.stdout);
  } catch {
    // reported below
  }
  if (r.status !== 1 || out.code !== 999 || out.msg !== "cannot run /nonexistent/patchcord: No such file or directory") throw new Error(`${shim} failed its smoke test: exit ${r.status}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)}`);
}

/** Builds dist/bin/patchcord-shim and returns its path; undefined (with a warning) without a C compiler. */
export async function buildShim({ log = console.log } = {}) {
  if (!existsSync(QUICKJS)) throw new Error(`QuickJS sources not found at ${QUICKJS}: run npm ci (devDependency qjsc)`);
  try {
    execFileSync(CC, ["--version"], { stdio: "ignore" });
  } catch {
    log(`warning: no C compiler (${CC}): no dist/bin/patchcord-shim; the plugin names stay the Bun binary (scripts/setup-system.sh installs gcc)`);
    return undefined;
  }
  const { lib, qjsc } = await buildQuickJS(log);
  mkdirSync(WORK, { recursive: true });
  mkdirSync(dirname(SHIM), { recursive: true });
  const js = join(WORK, "shim.js");
  // --target=browser: plain ECMAScript, no Node or Bun built-ins. --packages=external keeps every
  // bare import an import (relative ones are bundled): without it Bun swaps its browser polyfill
  // of Node's "os" in for QuickJS's.
  await run(bun, ["build", "--target=browser", "--format=esm", "--packages=external", "shim/main.ts", "--outfile", js]);
  const imports = [...readFileSync(js, "utf8").matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]).sort();
  if (imports.join() !== "os,patchcord_native,std") throw new Error(`${js} imports ${imports.join(", ")}: expected exactly os, patchcord_native, std`);
  const c = join(WORK, "shim.c");
  await run(qjsc, ["-e", "-m", "-M", "patchcord_native,patchcord_native", ...QJSC_FEATURES, "-o", c, js]);
  const nativeObj = join(WORK, "socket.o");
  const shimObj = join(WORK, "shim.o");
  await Promise.all([
    run(CC, [...NATIVE_CFLAGS, "-isystem", QUICKJS, "-c", join(root, "shim/native/socket.c"), "-o", nativeObj]),
    run(CC, [...CFLAGS, "-I", QUICKJS, "-c", c, "-o", shimObj]),
  ]);
  const tmp = `${SHIM}.tmp${process.pid}`;
  // Static: no dynamic loader and no shared libraries to map, ~1 ms less per call than dynamic.
  // (The linker's note on dlopen in a static binary concerns QuickJS's .so module loader, unused.)
  await run(CC, ["-static", "-s", "-Wl,--gc-sections", "-o", tmp, shimObj, nativeObj, lib, "-lm", "-lpthread", "-ldl"]);
  try {
    smokeTest(tmp);
    renameSync(tmp, SHIM);
  } finally {
    rmSync(tmp, { force: true });
  }
  log(`dist/bin/patchcord-shim ${(statSync(SHIM).size / 1024).toFixed(0)} KiB (QuickJS 2021-03-27, static)`);
  return SHIM;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildShim();
}
