import { formatIP, parseIP } from "../../shared/net/ip";
import { allocate } from "./allocator";
import { canonicalizeRangeSet } from "./range-set";
import { DiskStore } from "./store";
import { tempDataDir } from "./test-helpers";

const ip = (t: string) => parseIP(t)!;
const v4 = canonicalizeRangeSet([{ subnet: "10.0.0.0/29" }], "s0"); // .2-.6 allocatable
const v6 = canonicalizeRangeSet([{ subnet: "fd00::/125" }], "s1"); // ::2-::7 allocatable
let data: ReturnType<typeof tempDataDir>;
let store: DiskStore;
const owner = (id: string) => ({ id, ifname: "eth0" });
const take = (sets = [v4], id = "c", requested: string[] = []) => allocate(sets, requested.map(ip), store, owner(id)).map((a) => formatIP(a.ip));

beforeEach(() => {
  data = tempDataDir();
  store = new DiskStore(data.dir, "n");
});
afterEach(() => data.remove());

test("allocate() hands out addresses round-robin after the last reserved one", () => {
  expect(take([v4], "a")).toEqual(["10.0.0.2"]);
  expect(take([v4], "b")).toEqual(["10.0.0.3"]);
  store.release(ip("10.0.0.2"));
  expect(take([v4], "c")).toEqual(["10.0.0.4"]);
  expect(data.snapshot("n")["last_reserved_ip.0"]).toBe("10.0.0.4");
});

test("allocate() takes one address per range set (dual-stack)", () => {
  expect(take([v4, v6], "a")).toEqual(["10.0.0.2", "fd00::2"]);
  expect(data.snapshot("n")["last_reserved_ip.1"]).toBe("fd00::2");
});

test("allocate() refuses a second allocation for the same container and ifname", () => {
  take([v4], "a");
  expect(() => take([v4], "a")).toThrow(expect.objectContaining({ code: 101, message: "10.0.0.2 has been allocated to a, duplicate allocation is not allowed" }));
});

test("exhaustion fails with code 100 and leaves the store unchanged", () => {
  for (const id of ["a", "b", "c", "d", "e"]) take([v4], id);
  const before = data.snapshot("n");
  expect(() => take([v4], "f")).toThrow(expect.objectContaining({ code: 100, message: "no IP addresses available in range set: 10.0.0.1-10.0.0.6" }));
  expect(data.snapshot("n")).toEqual(before);
});

test("a failing second range set releases the first set's address and keeps the hints", () => {
  const tiny6 = canonicalizeRangeSet([{ subnet: "fd01::/126" }], "s1"); // only fd01::2 and ::3
  take([v4, tiny6], "a");
  take([v4, tiny6], "b");
  const before = data.snapshot("n");
  expect(() => take([v4, tiny6], "c")).toThrow(expect.objectContaining({ code: 100 }));
  expect(data.snapshot("n")).toEqual(before);
});

test("a requested address is reserved when free and in a range", () => {
  expect(take([v4, v6], "a", ["10.0.0.5", "fd00::6"])).toEqual(["10.0.0.5", "fd00::6"]);
});

test.each([
  [["10.0.0.5"], "b", 101, "requested IP address 10.0.0.5 is not available in range set 10.0.0.1-10.0.0.6: it is already reserved"],
  [["10.0.0.1"], "b", 7, "requested IP address 10.0.0.1 is the subnet's gateway"],
  [["10.9.9.9"], "b", 7, "failed to allocate all requested IPs: 10.9.9.9 (not in any range set)"],
])("a requested address %j is refused clearly and changes nothing", (req, id, code, msg) => {
  take([v4], "a", ["10.0.0.5"]);
  const before = data.snapshot("n");
  expect(() => take([v4], id, req)).toThrow(expect.objectContaining({ code, message: msg }));
  expect(data.snapshot("n")).toEqual(before);
});
