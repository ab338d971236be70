import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A throwaway dataDir for one test file; `snapshot()` reads every file of the store. */
export function tempDataDir(prefix = "pc-hl-"): { dir: string; snapshot(network: string): Record<string, string>; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    snapshot(network) {
      const d = join(dir, network);
      let names: string[] = [];
      try {
        names = readdirSync(d);
      } catch {
        return {};
      }
      return Object.fromEntries(names.sort().map((n) => [n, readFileSync(join(d, n), "utf8")]));
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
