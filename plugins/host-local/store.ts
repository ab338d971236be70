import { CniError, ErrorCode } from "../../shared/cni/errors";
import { formatIP, IP, parseIP } from "../../shared/net/ip";
import { hexBytes, randomBytesWeak } from "../../shared/hash";
import { fs, joinPath as join } from "../../shared/lazy";

/** Who holds an address, as written in its file: `id\r\nifname`, or just `id` in the legacy format. */
export interface Owner {
  id: string;
  ifname?: string;
}

export interface Reservation {
  ip: IP;
  /** Undefined while another process has created the file but not written it yet. */
  owner?: Owner;
}

const TEMP_PREFIX = ".patchcord-";

/**
 * The reference host-local's on-disk store, shared with it: `<dataDir>/<network>/<ip>` per address
 * and `last_reserved_ip.<N>` per range set.
 *
 * A reservation is committed by `link()`ing a fully written temporary file to the address's name:
 * like the reference's O_EXCL create it fails if the name exists, so two processes (ours or the
 * reference's) can never both get one address, and unlike it the file never exists half-written.
 * We do not take the reference's flock on `lock` (Node has no flock); uniqueness never needed it.
 */
export class DiskStore {
  readonly dir: string;

  constructor(dataDir: string, network: string) {
    this.dir = join(dataDir, network);
  }

  ensureDir(): void {
    try {
      // Almost always there already: one stat instead of a mkdir per path component.
      if (fs().statSync(this.dir).isDirectory()) return;
    } catch {
      // missing: made below
    }
    try {
      fs().mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    } catch (e) {
      throw storeError(`cannot create the IPAM store ${this.dir}`, e);
    }
  }

  /**
   * A fully written temporary file in the store, or a CniError (code 5) with nothing left behind:
   * a full disk fails the write after the file exists, and a leftover would look like a crash's.
   */
  private writeTemp(content: string): string {
    const tmp = join(this.dir, `${TEMP_PREFIX}${process.pid}-${hexBytes(randomBytesWeak(6))}.tmp`);
    let fd: number;
    try {
      fd = fs().openSync(tmp, "wx", 0o600);
    } catch (e) {
      throw storeError(`cannot write to the IPAM store ${this.dir}`, e);
    }
    let failure: unknown;
    try {
      const bytes = Buffer.byteLength(content);
      const written = fs().writeSync(fd, content);
      if (written !== bytes) failure = new Error(`short write: ${written} of ${bytes} bytes (disk full?)`);
    } catch (e) {
      failure = e;
    }
    try {
      fs().closeSync(fd);
    } catch (e) {
      failure ??= e;
    }
    if (failure !== undefined) {
      removeQuietly(tmp);
      throw storeError(`cannot write to the IPAM store ${this.dir}`, failure);
    }
    return tmp;
  }

  /** Reserves `ip` for the owner; false if it is already taken. */
  reserve(ip: IP, owner: Owner): boolean {
    const tmp = this.writeTemp(`${owner.id.trim()}\r\n${owner.ifname ?? ""}`);
    try {
      fs().linkSync(tmp, join(this.dir, formatIP(ip)));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw storeError(`cannot reserve ${formatIP(ip)} in ${this.dir}`, e);
    } finally {
      removeQuietly(tmp); // the name stays if this fails; GC removes it once stale
    }
  }

  release(ip: IP): void {
    try {
      fs().unlinkSync(join(this.dir, formatIP(ip)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw storeError(`cannot release ${formatIP(ip)} from ${this.dir}`, e);
    }
  }

  /** Every address file in the store (the lock, hints and temporary files are not addresses). */
  reservations(): Reservation[] {
    let names: string[];
    try {
      names = fs().readdirSync(this.dir);
    } catch (e) {
      // Missing, or a file where a directory should be: either way nothing can be reserved there.
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return [];
      throw storeError(`cannot read the IPAM store ${this.dir}`, e);
    }
    const out: Reservation[] = [];
    for (const name of names) {
      const ip = parseIP(name);
      // Only canonical names are reservations; anything else is not ours to interpret.
      if (!ip || formatIP(ip) !== name) continue;
      let content: string;
      try {
        content = fs().readFileSync(join(this.dir, name), "utf8");
      } catch {
        continue; // released meanwhile
      }
      out.push({ ip, owner: parseOwner(content) });
    }
    return out;
  }

  /** Addresses held by (id, ifname); if there are none, those held by `id` in the legacy format. */
  findByOwner(id: string, ifname: string): IP[] {
    const all = this.reservations();
    const exact = all.filter((r) => r.owner && r.owner.id === id.trim() && r.owner.ifname === ifname);
    if (exact.length) return exact.map((r) => r.ip);
    return all.filter((r) => r.owner && r.owner.id === id.trim() && r.owner.ifname === undefined).map((r) => r.ip);
  }

  lastReserved(index: number): IP | undefined {
    try {
      return parseIP(fs().readFileSync(join(this.dir, `last_reserved_ip.${index}`), "utf8").trim());
    } catch {
      return undefined; // a hint only: missing or being rewritten by the reference
    }
  }

  /** Replaced atomically (temp + rename), so readers never see it half-written. */
  setLastReserved(index: number, ip: IP): void {
    const tmp = this.writeTemp(formatIP(ip));
    const hint = join(this.dir, `last_reserved_ip.${index}`);
    // Performance: on ext4 a rename over an existing file forces the new file's data to disk
    // first (auto_da_alloc), 0.5-3 ms per ADD here. Swapping the two names and removing the old
    // one is as atomic for readers and skips that; the hint needs no such care (a hint lost in a
    // crash only makes the next search start at the beginning of the range, as a missing one does).
    if (fs().exchangeSync?.(tmp, hint)) {
      try {
        fs().unlinkSync(tmp); // now the previous hint
        return;
      } catch {
        // Not a file (a directory?): swap back, and let rename fail on it as it always has.
        fs().exchangeSync?.(tmp, hint);
      }
    }
    try {
      fs().renameSync(tmp, hint);
    } catch (e) {
      removeQuietly(tmp);
      throw storeError(`cannot record the last reserved address in ${this.dir}`, e);
    }
  }

  /**
   * Removes reservation files that are still empty after `olderThanMs`: the reference creates its
   * file and writes it at once, so an old empty one is the leftover of a process that died between.
   */
  removeStaleEmpty(olderThanMs: number, now = Date.now()): number {
    let removed = 0;
    for (const r of this.reservations()) {
      if (r.owner) continue;
      const file = join(this.dir, formatIP(r.ip));
      try {
        const st = fs().statSync(file);
        if (st.isFile() && st.size === 0 && now - st.mtimeMs > olderThanMs) {
          fs().unlinkSync(file);
          removed++;
        }
      } catch {
        // written or released meanwhile
      }
    }
    return removed;
  }

  /** Removes temporary files left by a process that died mid-reservation. */
  removeStaleTemps(olderThanMs: number, now = Date.now()): number {
    let removed = 0;
    let names: string[] = [];
    try {
      names = fs().readdirSync(this.dir);
    } catch {
      return 0;
    }
    for (const name of names) {
      if (!name.startsWith(TEMP_PREFIX)) continue;
      const file = join(this.dir, name);
      try {
        if (now - fs().statSync(file).mtimeMs > olderThanMs) {
          fs().unlinkSync(file);
          removed++;
        }
      } catch {
        // gone already
      }
    }
    return removed;
  }
}

/** Why a store operation failed, in words an operator acts on (the errno text stays in details). */
const REASONS: Record<string, string> = {
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  EROFS: "the file system is read-only",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOTDIR: "a component of the path is not a directory",
  EISDIR: "a directory is in the way",
  EIO: "input/output error",
};

function errnoName(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code) return code;
  // shared/sys/fs.ts's writeSync throws the bare SyscallError ("write: No space left on device").
  const text = String((e as Error)?.message ?? "");
  if (/no space left/i.test(text)) return "ENOSPC";
  if (/read-only file system/i.test(text)) return "EROFS";
  return undefined;
}

function storeError(what: string, e: unknown): CniError {
  const detail = (e as Error)?.message ?? String(e);
  const reason = REASONS[errnoName(e) ?? ""] ?? detail;
  return new CniError(ErrorCode.IoFailure, `${what}: ${reason}`, detail);
}

function removeQuietly(path: string): void {
  try {
    fs().unlinkSync(path);
  } catch {
    // already gone, or the file system refuses: nothing more to do here
  }
}

export function parseOwner(content: string): Owner | undefined {
  const text = content.trim();
  if (text === "") return undefined;
  const crlf = content.indexOf("\r\n");
  if (crlf < 0) return { id: text };
  return { id: content.slice(0, crlf).trim(), ifname: content.slice(crlf + 2).trim() };
}
