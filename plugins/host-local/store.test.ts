import { writeFileSync, utimesSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { formatIP, parseIP } from "../../shared/net/ip";
import { DiskStore, parseOwner } from "./store";
import { tempDataDir } from "./test-helpers";

const ip = (t: string) => parseIP(t)!;
let data: ReturnType<typeof tempDataDir>;
let store: DiskStore;

beforeEach(() => {
  data = tempDataDir();
  store = new DiskStore(data.dir, "net1");
  store.ensureDir();
});
afterEach(() => data.remove());

test("reserve() writes the reference format and refuses a taken address", () => {
  expect(store.reserve(ip("10.0.0.2"), { id: "ctr1", ifname: "eth0" })).toBe(true);
  expect(store.reserve(ip("10.0.0.2"), { id: "ctr2", ifname: "eth0" })).toBe(false);
  expect(data.snapshot("net1")).toEqual({ "10.0.0.2": "ctr1\r\neth0" });
});

test("reserve() names IPv6 files in Go's canonical text", () => {
  store.reserve(ip("FD00:0:0:0:0:0:0:2"), { id: "c", ifname: "eth0" });
  expect(Object.keys(data.snapshot("net1"))).toEqual(["fd00::2"]);
});

test("findByOwner() matches id and ifname, falling back to legacy id-only files", () => {
  store.reserve(ip("10.0.0.2"), { id: "c1", ifname: "eth0" });
  store.reserve(ip("10.0.0.3"), { id: "c1", ifname: "net1" });
  writeFileSync(join(store.dir, "10.0.0.4"), "c2");
  expect(store.findByOwner("c1", "eth0").map(formatIP)).toEqual(["10.0.0.2"]);
  expect(store.findByOwner("c2", "eth0").map(formatIP)).toEqual(["10.0.0.4"]);
  expect(store.findByOwner("c3", "eth0")).toEqual([]);
});

test("reservations() ignores the lock, hints, temporary and non-canonical files", () => {
  store.reserve(ip("10.0.0.2"), { id: "c1", ifname: "eth0" });
  writeFileSync(join(store.dir, "lock"), "");
  writeFileSync(join(store.dir, "010.0.0.3"), "x\r\neth0");
  store.setLastReserved(0, ip("10.0.0.2"));
  writeFileSync(join(store.dir, "10.0.0.9"), ""); // created by the reference, not written yet
  expect(store.reservations().map((r) => [formatIP(r.ip), r.owner])).toEqual(
    expect.arrayContaining([
      ["10.0.0.2", { id: "c1", ifname: "eth0" }],
      ["10.0.0.9", undefined],
    ]),
  );
  expect(store.reservations()).toHaveLength(2);
});

test("setLastReserved() and lastReserved() round-trip and tolerate a torn hint", () => {
  store.setLastReserved(1, ip("fd00::7"));
  expect(formatIP(store.lastReserved(1)!)).toBe("fd00::7");
  writeFileSync(join(store.dir, "last_reserved_ip.0"), "");
  expect(store.lastReserved(0)).toBeUndefined();
  expect(store.lastReserved(5)).toBeUndefined();
});

test("removeStaleTemps() removes only old temporary files", () => {
  const old = join(store.dir, ".patchcord-1-aaaa.tmp");
  const fresh = join(store.dir, ".patchcord-2-bbbb.tmp");
  writeFileSync(old, "x");
  writeFileSync(fresh, "y");
  utimesSync(old, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
  expect(store.removeStaleTemps(60_000)).toBe(1);
  expect(readdirSync(store.dir)).toEqual([".patchcord-2-bbbb.tmp"]);
});

test("parseOwner() reads both formats and trims whitespace", () => {
  expect(parseOwner("abc\r\neth0")).toEqual({ id: "abc", ifname: "eth0" });
  expect(parseOwner(" abc \n")).toEqual({ id: "abc" });
  expect(parseOwner("")).toBeUndefined();
});

test("removeStaleEmpty() removes only old empty reservation files", () => {
  const old = join(store.dir, "10.0.0.7");
  writeFileSync(old, ""); // created by a process that died before writing it
  writeFileSync(join(store.dir, "10.0.0.8"), ""); // being written right now
  store.reserve(ip("10.0.0.9"), { id: "c", ifname: "eth0" });
  utimesSync(old, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
  expect(store.removeStaleEmpty(60_000)).toBe(1);
  expect(readdirSync(store.dir).sort()).toEqual(["10.0.0.8", "10.0.0.9"]);
});

test("a store failure is code 5 saying what is wrong, with the system's words in details", () => {
  const blocked = new DiskStore(join(data.dir, "net1", "10.0.0.2"), "sub"); // a file where a directory should be
  store.reserve(ip("10.0.0.2"), { id: "c", ifname: "eth0" });
  expect(() => blocked.ensureDir()).toThrow(expect.objectContaining({ code: 5, message: expect.stringMatching(/^cannot create the IPAM store .*: a component of the path is not a directory$/) }));
  expect(blocked.reservations()).toEqual([]); // nothing can be reserved there, so DEL has nothing to do
});
