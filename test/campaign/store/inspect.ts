import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/** One file of a host-local store directory (`<dataDir>/<network>`), as read from outside. */
export interface StoreFile {
  name: string;
  kind: "file" | "dir" | "other";
  content?: string;
}

/** Every entry of the store directory, sorted; [] when it does not exist. */
export function storeFiles(storeDir: string): StoreFile[] {
  let names: string[];
  try {
    names = readdirSync(storeDir).sort();
  } catch {
    return [];
  }
  return names.map((name) => {
    const path = join(storeDir, name);
    const st = statSync(path);
    if (st.isDirectory()) return { name, kind: "dir" as const };
    if (!st.isFile()) return { name, kind: "other" as const };
    return { name, kind: "file" as const, content: readFileSync(path, "utf8") };
  });
}

const isAddressName = (n: string) => /^[0-9a-f.:]+$/i.test(n) && (n.includes(".") || n.includes(":")) && !n.startsWith("last_");

/** Address files by name, with their owner text (`id\r\nifname`). */
export function reservationsIn(storeDir: string): Map<string, string> {
  return new Map(storeFiles(storeDir).filter((f) => f.kind === "file" && isAddressName(f.name)).map((f) => [f.name, f.content ?? ""]));
}

/**
 * What must never be in a store after any call: a temporary file of ours (a write that failed
 * half-way) or a reservation that is not `id\r\nifname` (a half-written one). `planted` names the
 * files a test put there itself.
 */
export function storeDefects(storeDir: string, planted: string[] = []): string[] {
  const out: string[] = [];
  for (const f of storeFiles(storeDir)) {
    if (planted.includes(f.name)) continue;
    if (f.name.startsWith(".patchcord-")) out.push(`leftover temporary file ${f.name}`);
    else if (isAddressName(f.name) && !/^[^\r\n]+\r\n[^\r\n]+$/.test(f.content ?? "")) out.push(`reservation ${f.name} is ${JSON.stringify(f.content)}`);
  }
  return out;
}

/** The addresses of ADD results that appear more than once (with their prefix removed). */
export function duplicates(addresses: string[]): string[] {
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const a of addresses.map((x) => x.split("/")[0])) (seen.has(a) ? dup : seen).add(a);
  return [...dup];
}

/** The addresses of a CNI result (`ips[].address`), or [] when it is no result. */
export const resultAddresses = (json: Record<string, unknown> | undefined): string[] =>
  Array.isArray(json?.ips) ? (json!.ips as { address: string }[]).map((i) => i.address) : [];
