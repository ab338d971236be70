import fc from "fast-check";
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostVethName } from "../../plugins/bridge/plan";
import { BIN, EXEC_MODE, execPlugin, haveBinaries, haveReference, isRoot, PluginRun, REFERENCE_DIR, runId, testIf } from "../integration/helpers";
import { NetLab } from "../integration/netlab";
import { ServerProcess } from "../integration/server-process";
import { recordFigure } from "./figures";
import { duplicates, reservationsIn, resultAddresses, storeDefects, storeFiles } from "./store/inspect";
import { kernelSnapshot } from "./store/kernel";
import { Tmpfs } from "./store/tmpfs";

// Storage faults on host-local's store (`<dataDir>/<network>/<ip>`, `last_reserved_ip.<N>`), made
// for real: a full tmpfs, a read-only remount, files planted in the store. Every call goes through
// the shim as a runtime makes it. What must hold: a clear error (code 5 saying what is wrong) or a
// correct allocation; never a duplicate address, a half-written reservation or a leftover temp file.
const it = testIf(isRoot && haveBinaries, "needs root (mount, namespaces) and the built binaries (npm run build)");
const hostLocal = join(BIN, "host-local");
const reference = join(REFERENCE_DIR, "host-local");
const NET = "faultnet";
const RANGE = { subnet: "10.77.0.0/24", rangeStart: "10.77.0.10", rangeEnd: "10.77.0.15" }; // 6 addresses
let faults = 0;
const scratch = mkdtempSync(join(tmpdir(), "pc-storage-"));
const started = Date.now();

afterAll(async () => {
  await Tmpfs.removeAll();
  rmSync(scratch, { recursive: true, force: true });
  recordFigure({ suite: "storage", what: "storage faults tried (host-local and bridge)", value: faults, unit: "faults" });
  recordFigure({ suite: "storage", what: "duration", value: Date.now() - started, unit: "ms" });
});

const conf = (dataDir: string, extra: Record<string, unknown> = {}) => ({
  cniVersion: "1.1.0",
  name: NET,
  type: "bridge",
  ipam: { type: "host-local", dataDir, ranges: [[RANGE]] },
  ...extra,
});
const env = (command: string, id: string, mode: Record<string, string> = EXEC_MODE) => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: id,
  CNI_NETNS: "/var/run/netns/not-used-by-ipam",
  CNI_IFNAME: "eth0",
  CNI_PATH: BIN,
  ...mode,
});
const gcEnv = (mode: Record<string, string> = EXEC_MODE) => ({ CNI_COMMAND: "GC", CNI_PATH: BIN, ...mode });
const valid = (...ids: string[]) => ({ "cni.dev/valid-attachments": ids.map((containerID) => ({ containerID, ifname: "eth0" })) });

/** A spec error: exit 1, the error JSON on stdout with `code` and a message matching `msg`, no stack trace anywhere. */
function expectError(r: PluginRun, code: number, msg: RegExp): void {
  expect({ exit: r.code, code: r.json?.code }).toEqual({ exit: 1, code });
  expect(String(r.json?.msg)).toMatch(msg);
  expect(r.stdout + r.stderr).not.toMatch(/\n\s+at /);
}
function expectOk(r: PluginRun): void {
  expect({ exit: r.code, stderr: r.stderr, code: r.json?.code }).toEqual({ exit: 0, stderr: "", code: undefined });
}
const inRange = (a: string) => {
  const last = Number(a.split("/")[0].split(".")[3]);
  return a.startsWith("10.77.0.") && last >= 10 && last <= 15;
};
const fresh = (name: string) => {
  const dir = join(scratch, name);
  mkdirSync(join(dir, NET), { recursive: true });
  return { dataDir: dir, store: join(dir, NET) };
};

describe.each([
  ["no block left (16 KiB tmpfs), exec mode", "size=16k", false],
  ["no block left (16 KiB tmpfs), server mode", "size=16k", true],
  ["no inode left (8 inodes), exec mode", "size=1m,nr_inodes=8", false],
])("a full disk: %s", (_what, options, withServer) => {
  let server: ServerProcess | undefined;
  let mode: Record<string, string> = EXEC_MODE;
  beforeAll(async () => {
    if (!withServer || !isRoot || !haveBinaries) return;
    const socket = join(mkdtempSync(join(scratch, "sock-")), "cni.sock");
    server = new ServerProcess(socket);
    await server.ready();
    mode = { PATCHCORD_SOCKET: socket };
  });
  afterAll(async () => {
    server?.kill("SIGTERM");
    await server?.exited;
  });

  it("ADDs until the disk is full get distinct addresses, then code 5 saying so with nothing half-written; DEL still works and frees space", async () => {
    const fs = await new Tmpfs("pc-full-", options).mount();
    const dataDir = join(fs.dir, "ipam");
    const store = join(dataDir, NET);
    const ok: string[] = [];
    let failed = 0;
    for (let i = 0; i < 8; i++) {
      const before = storeFiles(store);
      const r = await execPlugin(hostLocal, env("ADD", `full${i}`, mode), conf(dataDir));
      if (r.code === 0) {
        expect(failed).toBe(0); // once full, it stays full
        ok.push(...resultAddresses(r.json));
      } else {
        failed++;
        // (tmpfs charges a hard link against its inodes: then it is the link that fails)
        expectError(r, 5, /^cannot (write to the IPAM store|reserve 10\.77\.0\.\d+ in) .*: no space left on the device$/);
        expect(storeFiles(store)).toEqual(before); // a refused ADD changes nothing
      }
      expect(storeDefects(store)).toEqual([]);
    }
    faults++;
    expect(ok.length).toBeGreaterThan(0);
    expect(failed).toBeGreaterThan(0);
    expect(duplicates(ok)).toEqual([]);
    expect(ok.every(inRange)).toBe(true);
    expect([...reservationsIn(store).keys()].sort()).toEqual(ok.map((a) => a.split("/")[0]).sort());

    // The reference on the same full store: it fails too (code 999 in Debian's 1.1.1) and must not
    // hand out an address of ours. Its own failures are not counted against us.
    if (haveReference) {
      const ref = await execPlugin(reference, env("ADD", "ref-full"), conf(dataDir));
      expect(ref.code).not.toBe(0);
      expect(duplicates([...ok, ...resultAddresses(ref.json)])).toEqual([]);
    }

    // Deleting needs no space; the freed page takes the next ADD.
    expectOk(await execPlugin(hostLocal, env("DEL", "full0", mode), conf(dataDir)));
    const again = await execPlugin(hostLocal, env("ADD", "after-del", mode), conf(dataDir));
    expectOk(again);
    const held = resultAddresses(again.json);
    expect(duplicates([...ok.slice(1), ...held])).toEqual([]);
    for (let i = 1; i < 8; i++) expectOk(await execPlugin(hostLocal, env("DEL", `full${i}`, mode), conf(dataDir)));
    expectOk(await execPlugin(hostLocal, env("DEL", "after-del", mode), conf(dataDir)));
    expect([...reservationsIn(store).keys()].filter((a) => a !== "lock")).toEqual([]);
    expect(storeDefects(store)).toEqual([]);
    await fs.remove();
    if (server) expect(server.served().length).toBeGreaterThan(8); // these calls really went to the server
  }, 30_000);
});

describe("bridge with host-local on a full disk", () => {
  const lab = new NetLab(runId());
  beforeAll(async () => {
    if (isRoot && haveBinaries) await lab.create();
  });
  afterAll(() => lab.destroy());

  it("ADD fails with code 5 and leaves the node, the pod and the store as they were; once there is space it works", async () => {
    const fs = await new Tmpfs("pc-brfull-", "size=16k").mount();
    const dataDir = join(fs.dir, "ipam");
    const store = join(dataDir, NET);
    const pod = await lab.addPod("p1");
    const podNs = pod.split("/").pop()!;
    const bridge = `${lab.prefix}br`;
    const cfg = conf(dataDir, { bridge, isGateway: true, ipMasq: true });
    const penv = { ...env("ADD", "brfull"), CNI_NETNS: pod };
    // The bridge exists already (another pod made it), so every change ADD makes is visible.
    const other = await lab.addPod("p0");
    const first = await lab.plugin(join(BIN, "bridge"), { ...penv, CNI_CONTAINERID: "first", CNI_NETNS: other }, cfg);
    expectOk(first);
    await fs.fill();
    const node0 = await kernelSnapshot(lab.node);
    const pod0 = await kernelSnapshot(podNs);
    const store0 = storeFiles(store);
    const r = await lab.plugin(join(BIN, "bridge"), penv, cfg);
    faults++;
    expectError(r, 5, /no space left on the device/);
    expect(await kernelSnapshot(lab.node)).toEqual(node0);
    expect(await kernelSnapshot(podNs)).toEqual(pod0);
    expect(storeFiles(store)).toEqual(store0);

    rmSync(join(fs.dir, "fill"));
    const ok = await lab.plugin(join(BIN, "bridge"), penv, cfg);
    expectOk(ok);
    expect(duplicates([...resultAddresses(first.json), ...resultAddresses(ok.json)])).toEqual([]);
    expectOk(await lab.plugin(join(BIN, "bridge"), { ...penv, CNI_COMMAND: "DEL" }, cfg));
    expectOk(await lab.plugin(join(BIN, "bridge"), { ...penv, CNI_COMMAND: "DEL", CNI_CONTAINERID: "first", CNI_NETNS: other }, cfg));
    expect((await kernelSnapshot(lab.node)).filter((l) => l.includes(hostVethName("brfull", "eth0")) || l.includes(NET))).toEqual([]);
    expect([...reservationsIn(store).keys()]).toEqual([]);
    await fs.remove();
  }, 30_000);
});

describe("a read-only dataDir (tmpfs remounted ro)", () => {
  it("ADD, DEL of a held address and GC fail with code 5 saying so and change nothing; DEL of nothing and CHECK work; rw again, all works", async () => {
    const fs = await new Tmpfs("pc-ro-", "size=64k").mount();
    const dataDir = join(fs.dir, "ipam");
    const store = join(dataDir, NET);
    const held = await execPlugin(hostLocal, env("ADD", "ro-held"), conf(dataDir));
    expectOk(held);
    expectOk(await execPlugin(hostLocal, env("ADD", "ro-stale"), conf(dataDir)));
    await fs.readOnly();
    const before = storeFiles(store);
    const readOnly = /the file system is read-only/;
    expectError(await execPlugin(hostLocal, env("ADD", "ro-new"), conf(dataDir)), 5, readOnly);
    expectError(await execPlugin(hostLocal, env("DEL", "ro-held"), conf(dataDir)), 5, readOnly);
    const gc = await execPlugin(hostLocal, gcEnv(), conf(dataDir, valid("ro-held")));
    expectError(gc, 5, /could not be released/);
    expect(String(gc.json?.details)).toMatch(/read-only/);
    // A store on a read-only disk that never had the network: code 5 naming the directory.
    expectError(await execPlugin(hostLocal, env("ADD", "ro-new"), conf(join(fs.dir, "elsewhere"))), 5, /cannot create the IPAM store .*elsewhere.*: the file system is read-only/);
    faults += 4;
    expectOk(await execPlugin(hostLocal, env("DEL", "never-added"), conf(dataDir)));
    expectOk(await execPlugin(hostLocal, env("CHECK", "ro-held"), conf(dataDir, { prevResult: held.json })));
    expect(storeFiles(store)).toEqual(before);
    if (haveReference) {
      // The reference answers 999 here (it cannot take its lock); it must not succeed either.
      expect((await execPlugin(reference, env("ADD", "ro-ref"), conf(dataDir))).code).not.toBe(0);
    }
    await fs.readWrite();
    expectOk(await execPlugin(hostLocal, gcEnv(), conf(dataDir, valid("ro-held"))));
    expect([...reservationsIn(store).values()]).toEqual(["ro-held\r\neth0"]);
    expectOk(await execPlugin(hostLocal, env("DEL", "ro-held"), conf(dataDir)));
    expect([...reservationsIn(store).keys()]).toEqual([]);
    expect(storeDefects(store)).toEqual([]);
    await fs.remove();
  }, 30_000);
});

describe("files in the store that are not what they should be", () => {
  it("empty, garbage, directory and legacy reservation files are never handed out; GC removes the stale ones", async () => {
    const { dataDir, store } = fresh("odd");
    writeFileSync(join(store, "10.77.0.10"), ""); // created, never written (a crash between the two)
    writeFileSync(join(store, "10.77.0.11"), "\x00\xff\xfe garbage\n\n"); // garbage
    mkdirSync(join(store, "10.77.0.12")); // a directory where a file should be
    writeFileSync(join(store, "10.77.0.13"), "legacy-ctr"); // the old format: id only
    const planted = ["10.77.0.10", "10.77.0.11", "10.77.0.12", "10.77.0.13"];
    faults += 4;
    const a = await execPlugin(hostLocal, env("ADD", "odd-a"), conf(dataDir));
    const b = await execPlugin(hostLocal, env("ADD", "odd-b"), conf(dataDir));
    expectOk(a);
    expectOk(b);
    expect([...resultAddresses(a.json), ...resultAddresses(b.json)]).toEqual(["10.77.0.14/24", "10.77.0.15/24"]);
    // The range is full now: the planted names count as taken.
    expectError(await execPlugin(hostLocal, env("ADD", "odd-c"), conf(dataDir)), 100, /no IP addresses available/);
    expect(storeDefects(store, planted)).toEqual([]);

    // GC: the garbage and the legacy owner are not valid attachments; a fresh empty file may be
    // the reference writing it right now, so it stays, and the directory is not a reservation.
    expectOk(await execPlugin(hostLocal, gcEnv(), conf(dataDir, valid("odd-a", "odd-b"))));
    expect(storeFiles(store).map((f) => f.name)).toEqual(["10.77.0.10", "10.77.0.12", "10.77.0.14", "10.77.0.15", "last_reserved_ip.0"]);
    // A minute later the empty file is a crash's leftover, and GC removes it.
    utimesSync(join(store, "10.77.0.10"), new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    expectOk(await execPlugin(hostLocal, gcEnv(), conf(dataDir, valid("odd-a", "odd-b"))));
    expect(storeFiles(store).map((f) => f.name)).toEqual(["10.77.0.12", "10.77.0.14", "10.77.0.15", "last_reserved_ip.0"]);
    const c = await execPlugin(hostLocal, env("ADD", "odd-c"), conf(dataDir));
    expectOk(c);
    expect(["10.77.0.10/24", "10.77.0.11/24", "10.77.0.13/24"]).toContain(resultAddresses(c.json)[0]);
    expect(storeDefects(store, ["10.77.0.12"])).toEqual([]);
  }, 30_000);

  const hints: [string, string | "dir"][] = [
    ["past rangeEnd, in the subnet", "10.77.0.250"],
    ["in another subnet", "192.168.7.7"],
    ["of the other family", "fd00::1"],
    ["garbage", "zz\x00garbage\n"],
    ["empty", ""],
    ["a number too big for an octet", "10.77.0.99999"],
    ["1 MiB of digits", "1".repeat(1 << 20)],
    ["a directory", "dir"],
  ];
  it.each(hints)("a last_reserved_ip.0 %s: ADD allocates in the range, skipping the held address, as the reference does", async (what, hint) => {
    faults++;
    const seed = (name: string) => {
      const s = fresh(name);
      writeFileSync(join(s.store, "10.77.0.10"), "other\r\neth0");
      if (hint === "dir") mkdirSync(join(s.store, "last_reserved_ip.0"));
      else writeFileSync(join(s.store, "last_reserved_ip.0"), hint);
      return s;
    };
    const ours = seed(`hint-${faults}`);
    const r = await execPlugin(hostLocal, env("ADD", "hinted"), conf(ours.dataDir));
    expectOk(r);
    expect(resultAddresses(r.json)).toEqual(["10.77.0.11/24"]);
    expect(reservationsIn(ours.store).get("10.77.0.11")).toBe("hinted\r\neth0");
    expect(storeDefects(ours.store)).toEqual([]);
    // A hint that is a file is rewritten; a directory in the way stays (the hint is only a hint).
    const after = storeFiles(ours.store).find((f) => f.name === "last_reserved_ip.0");
    expect(after).toEqual(hint === "dir" ? { name: "last_reserved_ip.0", kind: "dir" } : { name: "last_reserved_ip.0", kind: "file", content: "10.77.0.11" });
    if (haveReference && hint !== "dir") {
      // (On a directory the reference fails with 999; the difference is ours on purpose.)
      const ref = seed(`hint-ref-${faults}`);
      const rr = await execPlugin(reference, env("ADD", "hinted"), conf(ref.dataDir, { cniVersion: "1.0.0" }));
      expect([what, resultAddresses(rr.json)]).toEqual([what, ["10.77.0.11/24"]]);
    }
  });

  it("a dataDir that is a file: ADD is code 5 saying so; DEL and GC succeed (nothing can be reserved there); the file is untouched", async () => {
    const file = join(scratch, "a-file");
    writeFileSync(file, "not a directory\n");
    faults++;
    expectError(await execPlugin(hostLocal, env("ADD", "f1"), conf(file)), 5, /^cannot create the IPAM store .*a-file\/faultnet: a component of the path is not a directory$/);
    expectOk(await execPlugin(hostLocal, env("DEL", "f1"), conf(file)));
    expectOk(await execPlugin(hostLocal, gcEnv(), conf(file, valid())));
    // The network's directory a file instead.
    const { dataDir } = fresh("netfile");
    rmSync(join(dataDir, NET), { recursive: true });
    writeFileSync(join(dataDir, NET), "x");
    faults++;
    expectError(await execPlugin(hostLocal, env("ADD", "f2"), conf(dataDir)), 5, /cannot create the IPAM store .*faultnet/);
    expectOk(await execPlugin(hostLocal, env("DEL", "f2"), conf(dataDir)));
    expect(storeFiles(join(scratch))).toEqual(expect.arrayContaining([{ name: "a-file", kind: "file", content: "not a directory\n" }]));
  });

  it("a leftover temp file (a process killed mid-reservation) is never a reservation; GC removes it once stale", async () => {
    const { dataDir, store } = fresh("temps");
    const old = ".patchcord-4242-aaaaaaaaaaaa.tmp";
    const recent = ".patchcord-4343-bbbbbbbbbbbb.tmp";
    writeFileSync(join(store, old), "ghost\r\neth0");
    writeFileSync(join(store, recent), "ghost2\r\neth0");
    utimesSync(join(store, old), new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    faults++;
    const r = await execPlugin(hostLocal, env("ADD", "t1"), conf(dataDir));
    expectOk(r);
    expect(resultAddresses(r.json)).toEqual(["10.77.0.10/24"]);
    expectOk(await execPlugin(hostLocal, env("DEL", "ghost"), conf(dataDir))); // the ghost holds nothing
    expect(reservationsIn(store).get("10.77.0.10")).toBe("t1\r\neth0");
    expectOk(await execPlugin(hostLocal, gcEnv(), conf(dataDir, valid("t1"))));
    expect(storeFiles(store).map((f) => f.name)).toEqual([recent, "10.77.0.10", "last_reserved_ip.0"]);
    expect(storeDefects(store, [recent])).toEqual([]);
  });
});

describe("generated stores (fast-check)", () => {
  const SEED = 20261202;
  const RUNS = 30;
  const ADDRESSES = ["10.77.0.10", "10.77.0.11", "10.77.0.12", "10.77.0.13", "10.77.0.14", "10.77.0.15"];
  const content = fc.oneof(fc.constant(""), fc.string({ unit: "binary", maxLength: 64 }), fc.constant("owner\r\neth0"), fc.constant("legacy"));
  const planted = fc.uniqueArray(fc.record({ ip: fc.constantFrom(...ADDRESSES), content, dir: fc.boolean() }), { selector: (f) => f.ip, maxLength: 6 });
  const hint = fc.option(
    fc.oneof(fc.constantFrom(...ADDRESSES, "10.77.0.1", "10.77.0.255", "10.77.1.10", "::1", "10.77.0.09", " 10.77.0.12\n"), fc.string({ unit: "binary", maxLength: 40 })),
    { nil: undefined },
  );

  it("any planted files and hint: ADD takes a free address of the range (or code 100 when none is free), DEL frees it, the planted files stay as they were", async () => {
    // eslint-disable-next-line no-console
    console.log(`storage property: fast-check seed ${SEED}, ${RUNS} runs`);
    let n = 0;
    await fc.assert(
      fc.asyncProperty(planted, hint, async (files, last) => {
        const { dataDir, store } = fresh(`prop-${n++}`);
        for (const f of files) {
          if (f.dir) mkdirSync(join(store, f.ip));
          else writeFileSync(join(store, f.ip), f.content);
        }
        if (last !== undefined) writeFileSync(join(store, "last_reserved_ip.0"), last);
        const before = storeFiles(store).filter((f) => f.name !== "last_reserved_ip.0");
        const r = await execPlugin(hostLocal, env("ADD", "prop"), conf(dataDir));
        if (files.length === ADDRESSES.length) {
          expectError(r, 100, /no IP addresses available/);
        } else {
          expectOk(r);
          const [got] = resultAddresses(r.json).map((a) => a.split("/")[0]);
          expect(ADDRESSES.filter((a) => !files.some((f) => f.ip === a))).toContain(got);
          expect(reservationsIn(store).get(got)).toBe("prop\r\neth0");
        }
        expect(storeDefects(store, files.map((f) => f.ip))).toEqual([]);
        expectOk(await execPlugin(hostLocal, env("DEL", "prop"), conf(dataDir)));
        expect(storeFiles(store).filter((f) => f.name !== "last_reserved_ip.0")).toEqual(before);
      }),
      { seed: SEED, numRuns: RUNS },
    );
    faults += RUNS;
  }, 30_000);
});
