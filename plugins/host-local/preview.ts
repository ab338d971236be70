import { formatIP, IP } from "../../shared/net/ip";
import { fs, joinPath } from "../../shared/lazy";
import { DiskStore, Owner } from "./store";

/**
 * The store as ADD would find it, read but never written: a reservation succeeds where no file
 * holds the address yet. `patchcord explain` uses it to say which address ADD would hand out.
 */
export class PreviewStore extends DiskStore {
  private readonly taken = new Set<string>();

  override ensureDir(): void {}

  override reserve(ip: IP, _owner: Owner): boolean {
    const name = formatIP(ip);
    if (this.taken.has(name)) return false;
    try {
      fs().statSync(joinPath(this.dir, name));
      return false;
    } catch {
      this.taken.add(name);
      return true;
    }
  }

  override release(ip: IP): void {
    this.taken.delete(formatIP(ip));
  }

  override setLastReserved(): void {}
}
