#!/usr/bin/env node
// The native syscall addon (shared/sys/native/syscall.c -> patchcord-syscall.node), put beside the
// Bun binary: shared/sys/syscalls.ts loads it from the executable's directory instead of bun:ffi,
// which costs several milliseconds per process to set up. Compiled once per source, flags and
// compiler (cached in dist/.native/<hash>/). Without a C compiler it warns and skips: the binary
// then uses bun:ffi, as before.
//   node scripts/build-native.mjs [OUT_DIR]    (default dist/bin)
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const ADDON_NAME = "patchcord-syscall.node";
const SOURCE = join(root, "shared/sys/native/syscall.c");
const CC = process.env.CC || "gcc";
// -shared without -z defs: the Node-API functions come from the runtime that loads the addon.
const FLAGS = ["-std=c11", "-D_GNU_SOURCE", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared", "-fvisibility=hidden", "-s", "-Wl,-z,relro,-z,now", "-Wl,--build-id=none"];

function compilerId() {
  try {
    return execFileSync(CC, ["--version"], { stdio: ["ignore", "pipe", "ignore"] }).toString().split("\n")[0];
  } catch {
    return undefined;
  }
}

/** Builds (or reuses) the addon and copies it to `outDir`; returns its path there, or undefined. */
export function buildNative(outDir = join(root, "dist/bin")) {
  const target = join(outDir, ADDON_NAME);
  const cc = compilerId();
  if (process.arch !== "x64" || process.platform !== "linux" || cc === undefined) {
    console.warn(`build-native: ${cc === undefined ? `no C compiler (${CC})` : `not linux-x64`}: no ${ADDON_NAME}; the binary uses bun:ffi`);
    rmSync(target, { force: true }); // never leave one from another build beside the binary
    return undefined;
  }
  const key = createHash("sha256").update(readFileSync(SOURCE)).update(JSON.stringify([CC, cc, FLAGS])).digest("hex").slice(0, 16);
  const cached = join(root, "dist/.native", key, ADDON_NAME);
  const reused = existsSync(cached);
  if (!reused) {
    mkdirSync(dirname(cached), { recursive: true });
    const tmp = `${cached}.tmp-${process.pid}`;
    execFileSync(CC, [...FLAGS, "-o", tmp, SOURCE], { stdio: ["ignore", "inherit", "inherit"] });
    renameSync(tmp, cached);
  }
  mkdirSync(outDir, { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  copyFileSync(cached, tmp);
  renameSync(tmp, target); // a running plugin keeps the file it loaded
  const shown = target.startsWith(root + "/") ? target.slice(root.length + 1) : target;
  console.log(`${shown} ${(statSync(target).size / 1024).toFixed(0)} KiB (${cc}${reused ? ", cached" : ""})`);
  return target;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) buildNative(process.argv[2] ? resolve(process.argv[2]) : undefined);
