import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "../../../shared/kernel/run";

const sh = async (...argv: string[]): Promise<void> => {
  const r = await runCommand(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr.trim()}`);
};

/**
 * A small tmpfs mounted on a temp directory of its own, for storage faults (a full disk, a
 * read-only store, a store that a reboot empties). `unmount()` is safe to call twice, and
 * `unmountAll()` is for afterAll, so a failed test leaves no mount behind.
 */
export class Tmpfs {
  private static mounted = new Set<Tmpfs>();
  readonly base: string;
  readonly dir: string;
  private isMounted = false;

  /** `options`: tmpfs mount options, e.g. `size=16k` or `size=1m,nr_inodes=8`. */
  constructor(
    prefix: string,
    readonly options = "size=64k",
  ) {
    this.base = mkdtempSync(join(tmpdir(), prefix));
    this.dir = join(this.base, "mnt");
  }

  async mount(): Promise<this> {
    await sh("mkdir", "-p", this.dir);
    await sh("mount", "-t", "tmpfs", "-o", `${this.options},mode=0755`, "tmpfs", this.dir);
    this.isMounted = true;
    Tmpfs.mounted.add(this);
    return this;
  }

  readOnly = (): Promise<void> => sh("mount", "-o", "remount,ro", this.dir);
  readWrite = (): Promise<void> => sh("mount", "-o", "remount,rw", this.dir);

  /** Fills every free block (a file `fill` of zeros); `dd` stops at ENOSPC. */
  async fill(name = "fill"): Promise<void> {
    await runCommand(["dd", "if=/dev/zero", `of=${join(this.dir, name)}`, "bs=4k"]);
  }

  /** Unmounts (everything on it is gone, as after a reboot). */
  async unmount(): Promise<void> {
    if (!this.isMounted) return;
    const r = await runCommand(["umount", this.dir]);
    if (r.code !== 0) await runCommand(["umount", "-l", this.dir]);
    this.isMounted = false;
    Tmpfs.mounted.delete(this);
  }

  async remove(): Promise<void> {
    await this.unmount();
    rmSync(this.base, { recursive: true, force: true });
  }

  static async removeAll(): Promise<void> {
    for (const t of [...Tmpfs.mounted]) await t.remove();
  }
}
