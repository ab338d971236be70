import { spawn } from "node:child_process";
import { chmodSync, copyFileSync, linkSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { havePortmap, installedNames, installPlugins } from "./install";
import { fileContains } from "./uninstall";

describe("installPlugins", () => {
  let dir: string;
  let bin: string;
  let lines: string[];
  const log = (l: string) => lines.push(l);
  const source = (name: string, text: string) => {
    const path = `${dir}/${name}`;
    writeFileSync(path, text);
    return path;
  };
  beforeEach(() => {
    dir = mkdtempSync(`${tmpdir()}/pc-install-`);
    bin = `${dir}/bin`;
    lines = [];
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test("installs every name as a hard link of one executable copy", async () => {
    const src = source("patchcord", "v1 binary");
    const { changed } = await installPlugins({ source: src, binDir: bin, log });
    expect(changed).toEqual(installedNames());
    expect(installedNames()).toEqual(["patchcord-bridge", "patchcord-veth-routed", "patchcord-host-local", "patchcord-macvlan", "patchcord-ipvlan"]);
    const stats = installedNames().map((n) => statSync(`${bin}/${n}`));
    expect(new Set(stats.map((s) => s.ino)).size).toBe(1);
    expect(stats[0].nlink).toBe(5);
    expect(stats[0].ino).not.toBe(statSync(src).ino);
    expect(stats[0].mode & 0o777).toBe(0o755);
    expect(readFileSync(`${bin}/patchcord-bridge`, "utf8")).toBe("v1 binary");
    expect(readdirSync(bin).sort()).toEqual([...installedNames()].sort());
    expect(lines.filter((l) => l.startsWith("installed "))).toHaveLength(5);
  });

  test("with the shim: the plugin names are links of the shim, the binary goes in as patchcord", async () => {
    const src = source("patchcord", "the Bun binary");
    const shim = source("patchcord-shim", "the shim");
    expect((await installPlugins({ source: src, shim, binDir: bin, log })).changed).toEqual(["patchcord", ...installedNames(), "patchcord-shim"]);
    expect(readFileSync(`${bin}/patchcord`, "utf8")).toBe("the Bun binary");
    const stats = [...installedNames(), "patchcord-shim"].map((n) => statSync(`${bin}/${n}`));
    expect(new Set(stats.map((st) => st.ino)).size).toBe(1);
    expect(readFileSync(`${bin}/patchcord-veth-routed`, "utf8")).toBe("the shim");
    expect(readdirSync(bin).sort()).toEqual(["patchcord", "patchcord-shim", ...installedNames()].sort());
    expect(await installPlugins({ source: src, shim, binDir: bin, log })).toEqual({ changed: [] });
    // A node that had the binary under the plugin names (an earlier release) gets the shim there.
    const old = `${dir}/old-bin`;
    await installPlugins({ source: src, binDir: old, log });
    expect((await installPlugins({ source: src, shim, binDir: old, log })).changed).toEqual(["patchcord", ...installedNames(), "patchcord-shim"]);
    expect(readFileSync(`${old}/patchcord-bridge`, "utf8")).toBe("the shim");
    // The system-call addon goes beside the binary, which loads it from its own directory.
    const addon = source("patchcord-syscall.node", "the addon");
    expect((await installPlugins({ source: src, shim, addon, binDir: bin, log })).changed).toEqual(["patchcord-syscall.node"]);
    expect(readFileSync(`${bin}/patchcord-syscall.node`, "utf8")).toBe("the addon");
  });

  test("a second install changes nothing (same inode, same mtime, no log)", async () => {
    const src = source("patchcord", "v1 binary");
    await installPlugins({ source: src, binDir: bin, log });
    const before = installedNames().map((n) => statSync(`${bin}/${n}`));
    lines = [];
    expect(await installPlugins({ source: src, binDir: bin, log })).toEqual({ changed: [] });
    // A different file with the same bytes counts as installed too.
    expect(await installPlugins({ source: source("copy", "v1 binary"), binDir: bin, log })).toEqual({ changed: [] });
    const after = installedNames().map((n) => statSync(`${bin}/${n}`));
    expect(after.map((s) => [s.ino, s.mtimeMs])).toEqual(before.map((s) => [s.ino, s.mtimeMs]));
    expect(lines).toEqual([]);
  });

  test("a file found equal once is trusted while unchanged, and checked again once written in place", async () => {
    const src = source("patchcord", "v1 binary");
    await installPlugins({ source: src, binDir: bin, log });
    // Two checks: the first hashes the installed copy and remembers it, the second trusts that.
    expect(await installPlugins({ source: src, binDir: bin, log })).toEqual({ changed: [] });
    expect(await installPlugins({ source: src, binDir: bin, log })).toEqual({ changed: [] });
    // Same size, other bytes, same inode: its mtime moved, so it is hashed again and replaced.
    writeFileSync(`${bin}/patchcord-bridge`, "v2 binary");
    lines = [];
    expect((await installPlugins({ source: src, binDir: bin, log })).changed).toEqual(installedNames());
    expect(readFileSync(`${bin}/patchcord-macvlan`, "utf8")).toBe("v1 binary");
  });

  test("replaces only names whose content differs; foreign files and temps of others stay", async () => {
    await installPlugins({ source: source("v1", "v1 binary"), binDir: bin, log });
    writeFileSync(`${bin}/bridge`, "reference bridge");
    writeFileSync(`${bin}/portmap`, "reference portmap");
    writeFileSync(`${bin}/.someone-elses.tmp`, "x");
    writeFileSync(`${bin}/.patchcord-install-00112233aabb.tmp`, "crash leftover");
    writeFileSync(`${bin}/.patchcord-install-00112233aabb.3.tmp`, "crash leftover");
    const v2 = source("v2", "v2 binary, longer");
    const { changed } = await installPlugins({ source: v2, binDir: bin, log });
    expect(changed).toEqual(installedNames());
    expect(readFileSync(`${bin}/patchcord-ipvlan`, "utf8")).toBe("v2 binary, longer");
    expect(readFileSync(`${bin}/bridge`, "utf8")).toBe("reference bridge");
    expect(readdirSync(bin).sort()).toEqual([".someone-elses.tmp", "bridge", "portmap", ...installedNames()].sort());
    // Same size, other bytes: found by content, not size.
    writeFileSync(`${dir}/v3`, "v3 binary, LONGER");
    rmSync(`${bin}/patchcord-macvlan`);
    rmSync(`${bin}/patchcord-host-local`);
    copyFileSync(`${dir}/v3`, `${bin}/patchcord-host-local`);
    // Its own inode (not the shared one), same bytes, but not executable.
    rmSync(`${bin}/patchcord-veth-routed`);
    copyFileSync(v2, `${bin}/patchcord-veth-routed`);
    chmodSync(`${bin}/patchcord-veth-routed`, 0o644);
    lines = [];
    expect((await installPlugins({ source: v2, binDir: bin, log })).changed.sort()).toEqual(["patchcord-host-local", "patchcord-macvlan", "patchcord-veth-routed"]);
    expect(lines.join("\n")).toMatch(/patchcord-macvlan: it was missing/);
    expect(lines.join("\n")).toMatch(/patchcord-host-local: it had other content/);
    expect(lines.join("\n")).toMatch(/patchcord-veth-routed: it was not executable/);
  });

  test("a symlink in our name's place is replaced by a file; its target is not written", async () => {
    const decoy = source("decoy", "not ours");
    await installPlugins({ source: source("v1", "v1 binary"), binDir: bin, log });
    rmSync(`${bin}/patchcord-bridge`);
    symlinkSync(decoy, `${bin}/patchcord-bridge`);
    expect((await installPlugins({ source: `${dir}/v1`, binDir: bin, log })).changed).toEqual(["patchcord-bridge"]);
    expect(readFileSync(decoy, "utf8")).toBe("not ours");
    expect(statSync(`${bin}/patchcord-bridge`).isFile()).toBe(true);
    expect(readFileSync(`${bin}/patchcord-bridge`, "utf8")).toBe("v1 binary");
  });

  test("replaces a binary that is running (no ETXTBSY: rename, never a write into it)", async () => {
    copyFileSync("/bin/sleep", `${dir}/sleep`);
    await installPlugins({ source: `${dir}/sleep`, binDir: bin, log });
    const running = spawn(`${bin}/patchcord-bridge`, ["30"], { stdio: "ignore" });
    try {
      await new Promise((r) => setTimeout(r, 200));
      // The kernel refuses writes into it now, which is what a copy over it would do.
      expect(() => writeFileSync(`${bin}/patchcord-bridge`, "x")).toThrow(/ETXTBSY/);
      copyFileSync("/bin/true", `${dir}/true`);
      expect((await installPlugins({ source: `${dir}/true`, binDir: bin, log })).changed).toEqual(installedNames());
      expect(readFileSync(`${bin}/patchcord-bridge`).equals(readFileSync("/bin/true"))).toBe(true);
      expect(running.exitCode).toBeNull();
    } finally {
      running.kill();
    }
  });

  test("rejects a relative bin dir or source", async () => {
    await expect(installPlugins({ source: "/bin/true", binDir: "opt/cni/bin", log })).rejects.toThrow(/absolute/);
    await expect(installPlugins({ source: "patchcord", binDir: bin, log })).rejects.toThrow(/absolute/);
  });

  test("havePortmap wants an executable regular file", () => {
    expect(havePortmap(dir)).toBe(false);
    writeFileSync(`${dir}/portmap`, "x");
    expect(havePortmap(dir)).toBe(false);
    chmodSync(`${dir}/portmap`, 0o755);
    expect(havePortmap(dir)).toBe(true);
    expect(havePortmap("relative")).toBe(false);
  });
});

describe("fileContains", () => {
  test("finds a marker that straddles the 1 MiB read boundary, and not a missing one", () => {
    const dir = mkdtempSync(`${tmpdir()}/pc-marker-`);
    try {
      const marker = "CNI plugins as one multi-call binary";
      const buf = Buffer.alloc((1 << 20) * 2 + 100, 0x41);
      buf.write(marker, (1 << 20) + marker.length - 10 - marker.length + 10 - 5);
      writeFileSync(`${dir}/f`, buf);
      expect(fileContains(`${dir}/f`, marker)).toBe(true);
      expect(fileContains(`${dir}/f`, marker + "!")).toBe(false);
      linkSync(`${dir}/f`, `${dir}/g`);
      expect(fileContains(`${dir}/g`, marker)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
