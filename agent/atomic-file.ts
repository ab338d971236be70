import { randomBytes } from "node:crypto";
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { absolutePathProblem } from "../shared/cni/names";

/**
 * Files the agent puts into host directories (the CNI bin and conf dirs) appear there only whole:
 * written to a temp file in the same directory, fsync'd, then renamed over the target. The temp
 * name starts with a dot and ends in `.tmp`, so no runtime loads it as a config or a plugin, and it
 * carries our prefix, so a crash's leftovers can be told from anyone else's files.
 */
export type Log = (line: string) => void;

const TEMP_PREFIX = ".patchcord-";

/** `.patchcord-<purpose>-<12 hex>.tmp` */
export const tempName = (purpose: string): string => `${TEMP_PREFIX}${purpose}-${randomBytes(6).toString("hex")}.tmp`;

const isOurTemp = (purpose: string, name: string): boolean => new RegExp(`^\\.patchcord-${purpose}-[0-9a-f]{12}(\\.[0-9]+)?\\.tmp$`).test(name);

/** Throws unless `dir` is an absolute path we can safely build file names in. */
export function checkDir(dir: string, what: string): string {
  const problem = absolutePathProblem(dir);
  if (problem) throw new Error(`${what} ${JSON.stringify(dir)} ${problem}`);
  return dir.replace(/\/+$/, "") || "/";
}

/** Creates `dir` (and its parents) when it is missing, as a node's runtime would for its CNI dirs. */
export function ensureDir(dir: string, log: Log, what = "it"): void {
  if (existsSync(dir)) return;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  log(`created ${dir}: ${what} did not exist`);
}

/** Removes temp files of ours (of one purpose) that a crashed run left in `dir`; returns their names. */
export function removeLeftoverTemps(dir: string, purpose: string, log: Log): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names.filter((n) => isOurTemp(purpose, n))) {
    try {
      unlinkSync(`${dir}/${name}`);
      removed.push(name);
      log(`removed ${dir}/${name}: a temp file left by an interrupted patchcord install`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  }
  return removed;
}

/** Makes the renames in `dir` durable: without it a power cut may bring back the old names. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `text` to `dir/name` so that readers see the old file or the new one, never a part. */
export function writeFileAtomic(dir: string, name: string, text: string, mode: number, purpose: string): void {
  const temp = `${dir}/${tempName(purpose)}`;
  const fd = openSync(temp, "wx", mode);
  try {
    try {
      const data = Buffer.from(text, "utf8");
      for (let off = 0; off < data.length; ) off += writeSync(fd, data, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // The umask may have narrowed the mode given to open.
    chmodSync(temp, mode);
    renameSync(temp, `${dir}/${name}`);
  } catch (e) {
    try {
      unlinkSync(temp);
    } catch {
      // already renamed or never created
    }
    throw e;
  }
  fsyncDir(dir);
}
