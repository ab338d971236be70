import { closeSync, lstatSync, openSync, readSync, rmSync, Stats, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { BINARY_TAGLINE } from "../shared/version";
import { checkDir, Log, removeLeftoverTemps } from "./atomic-file";

export type { Log } from "./atomic-file";
import { NETWORK_NAME, removeConflist } from "./conflist";
import { ADDON_NAME, BINARY_NAME, INSTALL_TEMP_PURPOSE, installedNames, SameContent, SHIM_NAME } from "./install";
import { SHIM_TAGLINE } from "../server/protocol";
import { removeMasquerade } from "./masquerade";
import { removeAllRoutes } from "./routes";
import { removeAgentState } from "./state-file";

/**
 * Takes patchcord off the node: our conflist, our binaries, our routes, our netfilter table and
 * chains, and (only when asked) host-local's store of our network. Nothing else; running it twice
 * is the same as once.
 *
 * A `patchcord-<plugin>` or `patchcord` file is removed only when it is ours: the same bytes as the
 * running binary or the shim beside it, or a file containing the multi-call binary's usage text or
 * the shim's (an older release of ours). A
 * file of that name that is neither, someone else's, is left in place and logged: deleting a
 * binary we did not install could break whatever installed it.
 */
export const OUR_MARKER = BINARY_TAGLINE;


/** Whether the file contains `marker`, read in pieces that overlap by the marker's length. */
export function fileContains(path: string, marker: string): boolean {
  const needle = Buffer.from(marker, "utf8");
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc((1 << 20) + needle.length);
    let carry = 0;
    for (;;) {
      const n = readSync(fd, buf, carry, buf.length - carry, null);
      if (n <= 0) return false;
      const end = carry + n;
      if (buf.subarray(0, end).includes(needle)) return true;
      carry = Math.min(needle.length - 1, end);
      buf.copy(buf, 0, end - carry, end);
    }
  } finally {
    closeSync(fd);
  }
}

function isOurBinary(path: string, st: Stats, running: SameContent[]): boolean {
  if (!st.isFile()) return false;
  if (running.some((r) => r.difference(path, st) === undefined)) return true;
  return fileContains(path, OUR_MARKER) || fileContains(path, SHIM_TAGLINE);
}

/** Our addon: the one beside the running binary, or a file with the addon's own marker (a Node-API module of ours). */
function isOurAddon(path: string, st: Stats): boolean {
  if (!st.isFile()) return false;
  const beside = sameContentOrNone(`${dirname(process.execPath)}/${ADDON_NAME}`);
  return beside.some((r) => r.difference(path, st) === undefined) || fileContains(path, "patchcord_syscall");
}

const sameContentOrNone = (path: string): SameContent[] => {
  try {
    return [new SameContent(path)];
  } catch {
    return [];
  }
};

async function removeBinaries(binDir: string, log: Log): Promise<void> {
  removeLeftoverTemps(binDir, INSTALL_TEMP_PURPOSE, log);
  const running = [...sameContentOrNone(process.execPath), ...sameContentOrNone(`${dirname(process.execPath)}/${SHIM_NAME}`)];
  // The shims before the binary they fall back to.
  for (const name of [...installedNames(), SHIM_NAME, BINARY_NAME, ADDON_NAME]) {
    const path = `${binDir}/${name}`;
    let st: Stats;
    try {
      st = lstatSync(path);
    } catch {
      continue;
    }
    if (!isOurBinary(path, st, running) && !(name === ADDON_NAME && isOurAddon(path, st))) {
      log(`left ${path}: it is not a patchcord binary`);
      continue;
    }
    // unlink, not write: a plugin still running from it keeps its inode until it exits.
    unlinkSync(path);
    log(`removed ${path}: uninstalling patchcord`);
  }
}

export async function uninstall(opts: { binDir: string; confDir: string; ipamDataDir?: string; log: Log }): Promise<void> {
  const { log } = opts;
  // The conflist first: once it is gone the runtime stops sending new pods to binaries about to go.
  await removeConflist(opts.confDir, log);
  await removeBinaries(checkDir(opts.binDir, "CNI bin dir"), log);
  await removeAllRoutes(log);
  await removeMasquerade(log);
  if (opts.ipamDataDir !== undefined) {
    removeAgentState(opts.ipamDataDir, log);
    // Host-local keeps each network's leases in DATADIR/<network name>.
    const dir = `${checkDir(opts.ipamDataDir, "IPAM data dir")}/${NETWORK_NAME}`;
    let there = true;
    try {
      there = lstatSync(dir).isDirectory();
    } catch {
      there = false;
    }
    if (there) {
      rmSync(dir, { recursive: true, force: true });
      log(`removed ${dir}: host-local's leases of network ${NETWORK_NAME}`);
    }
  }
}
