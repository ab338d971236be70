import { createHash } from "node:crypto";
import { accessSync, chmodSync, closeSync, constants, copyFileSync, fsyncSync, linkSync, lstatSync, openSync, readSync, renameSync, statSync, Stats, unlinkSync } from "node:fs";
import { checkDir, ensureDir, fsyncDir, Log, removeLeftoverTemps, tempName } from "./atomic-file";

export type { Log } from "./atomic-file";

/**
 * Installs the plugins into the CNI bin dir under `patchcord-<plugin>` names, which no other
 * project uses, so we never replace someone else's `bridge` or `host-local`. With the native shim
 * (dist/bin/patchcord-shim, beside the agent's own binary) those names are the shim, which hands
 * each call to the agent's resident server, and the multi-call binary goes in as `patchcord`, which
 * the shim runs itself when no server answers. Without a shim the names are the binary itself.
 *
 * One copy is written to a dot-named temp file in the bin dir itself (same filesystem), fsync'd,
 * and every name that needs it becomes a hard link of that copy renamed into place: five names
 * cost one file's disk, and a running plugin keeps its old inode (rename never writes into a busy
 * file, so there is no ETXTBSY). A name already holding the same bytes is left alone, so a restart
 * changes nothing, and no other file in the bin dir is ever touched.
 */
export const INSTALLED_PLUGINS = ["bridge", "veth-routed", "host-local", "macvlan", "ipvlan"];

const PREFIX = "patchcord-";
/** The purpose in our temp files' names (atomic-file.ts): uninstall clears leftovers by it. */
export const INSTALL_TEMP_PURPOSE = "install";
const MODE = 0o755;

export function installedNames(): string[] {
  return INSTALLED_PLUGINS.map((p) => PREFIX + p);
}

/** The multi-call binary's own name in the bin dir, when the plugin names are the shim. */
export const BINARY_NAME = "patchcord";
/** The shim's file name beside the multi-call binary (the build's dist/bin, the image's bin dir). */
export const SHIM_NAME = "patchcord-shim";

/** The reference portmap (the conflist chains it only when it is there). */
export const havePortmap = (binDir: string): boolean => {
  try {
    const path = `${checkDir(binDir, "CNI bin dir")}/portmap`;
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** SHA-256 of a file, read in 1 MiB pieces (the binary is about 100 MiB). */
export function fileDigest(path: string): string {
  const hash = createHash("sha256");
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(1 << 20);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

const lstatOrUndefined = (path: string): Stats | undefined => {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
};

/** A file's identity and change stamp: any write, rename or link since changes it. */
const stamp = (st: Stats): string => `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;

/**
 * Pairs (source stamp, file stamp) found to hold the same bytes, kept for the process's life: the
 * agent checks the installed files on every resync, and hashing the ~100 MiB binary and its copy
 * each time cost ~180 ms of CPU per resync for nothing. A file changed since is hashed again.
 */
const verifiedEqual = new Set<string>();

/**
 * Compares files with `source` by identity first (same inode: a hard link of it, or of a file we
 * already found equal, in this run or an earlier one unchanged since), then by size, then by
 * content. Each inode is hashed at most once.
 */
export class SameContent {
  private readonly size: number;
  private readonly sourceStamp: string;
  private readonly equalInodes = new Set<string>();
  private readonly differentInodes = new Set<string>();
  private digest?: string;

  constructor(private readonly source: string) {
    const st = statSync(source);
    if (!st.isFile()) throw new Error(`${source} is not a regular file`);
    this.size = st.size;
    this.sourceStamp = stamp(st);
    this.equalInodes.add(`${st.dev}:${st.ino}`);
  }

  /** Why `st` (the lstat of `path`) is not the source's content, or undefined when it is. */
  difference(path: string, st: Stats | undefined): string | undefined {
    if (!st) return "was missing";
    if (!st.isFile()) return "was not a regular file";
    const inode = `${st.dev}:${st.ino}`;
    if (this.equalInodes.has(inode)) return undefined;
    if (this.differentInodes.has(inode) || st.size !== this.size) {
      this.differentInodes.add(inode);
      return "had other content";
    }
    const pair = `${this.sourceStamp}|${stamp(st)}`;
    if (verifiedEqual.has(pair)) {
      this.equalInodes.add(inode);
      return undefined;
    }
    this.digest ??= fileDigest(this.source);
    if (fileDigest(path) === this.digest) {
      this.equalInodes.add(inode);
      verifiedEqual.add(pair);
      return undefined;
    }
    this.differentInodes.add(inode);
    return "had other content";
  }
}

/** The system-call addon the build puts beside the binary; the binary loads it from its own directory. */
export const ADDON_NAME = "patchcord-syscall.node";

/**
 * What goes where: each file under its names (several names are hard links of one copy). The
 * addon goes first (a binary beside no addon still works, through bun:ffi, only slower to start).
 */
export function installLayout(source: string, shim?: string, addon?: string): { file: string; names: string[] }[] {
  const withAddon = addon ? [{ file: addon, names: [ADDON_NAME] }] : [];
  // The shim also under its own name: beside `patchcord` that is how the binary recognises a
  // delegated patchcord-host-local as itself, to run it in-process (shared/cni/delegate.ts).
  if (shim) return [...withAddon, { file: source, names: [BINARY_NAME] }, { file: shim, names: [...installedNames(), SHIM_NAME] }];
  return [...withAddon, { file: source, names: installedNames() }];
}

export async function installPlugins(opts: { source: string; shim?: string; addon?: string; binDir: string; log: Log }): Promise<{ changed: string[] }> {
  const binDir = checkDir(opts.binDir, "CNI bin dir");
  for (const f of [opts.source, opts.shim, opts.addon]) {
    if (f !== undefined && !f.startsWith("/")) throw new Error(`install source ${JSON.stringify(f)} must be an absolute path`);
  }
  ensureDir(binDir, opts.log, "the CNI bin dir");
  removeLeftoverTemps(binDir, INSTALL_TEMP_PURPOSE, opts.log);
  const changed: string[] = [];
  // The binary before the shim: a shim installed first could find no `patchcord` to fall back to.
  for (const { file, names } of installLayout(opts.source, opts.shim, opts.addon)) changed.push(...installFile(file, names, binDir, opts.log));
  if (changed.length) fsyncDir(binDir);
  return { changed };
}

function installFile(source: string, names: string[], binDir: string, log: Log): string[] {
  const same = new SameContent(source);
  const todo: { name: string; why: string }[] = [];
  for (const name of names) {
    const st = lstatOrUndefined(`${binDir}/${name}`);
    let why = same.difference(`${binDir}/${name}`, st);
    if (!why && st && (st.mode & 0o111) === 0) why = "was not executable";
    if (why) todo.push({ name, why });
  }
  if (!todo.length) return [];

  const temp = `${binDir}/${tempName(INSTALL_TEMP_PURPOSE)}`;
  try {
    copyFileSync(source, temp, constants.COPYFILE_EXCL);
    chmodSync(temp, MODE);
    const fd = openSync(temp, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    todo.forEach(({ name, why }, i) => {
      // rename() moves a name, so each target gets its own link of the one copy first.
      const link = temp.replace(/\.tmp$/, `.${i}.tmp`);
      linkSync(temp, link);
      renameSync(link, `${binDir}/${name}`);
      log(`installed ${binDir}/${name}: it ${why}`);
    });
  } finally {
    try {
      unlinkSync(temp);
    } catch {
      // never created
    }
  }
  return todo.map((t) => t.name);
}
