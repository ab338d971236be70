import { formatIP, parseIP } from "../../shared/net/ip";
import { canonicalizeRange, rangeCapacity, rangeContains, rangesOverlap } from "./range";

const ip = (t: string) => parseIP(t)!;

describe("canonicalizeRange()", () => {
  test("fills in the reference defaults for IPv4", () => {
    const r = canonicalizeRange({ subnet: "10.1.2.0/24" }, "r");
    expect([formatIP(r.start), formatIP(r.end), formatIP(r.gateway)]).toEqual(["10.1.2.1", "10.1.2.254", "10.1.2.1"]);
  });

  test("ends an IPv6 range at the last address of the prefix", () => {
    const r = canonicalizeRange({ subnet: "fd00::/120" }, "r");
    expect([formatIP(r.start), formatIP(r.end), formatIP(r.gateway)]).toEqual(["fd00::1", "fd00::ff", "fd00::1"]);
  });

  test("keeps explicit start, end and a gateway outside the range", () => {
    const r = canonicalizeRange({ subnet: "10.0.0.0/24", rangeStart: "10.0.0.10", rangeEnd: "10.0.0.20", gateway: "10.0.0.254" }, "r");
    expect([formatIP(r.start), formatIP(r.end), formatIP(r.gateway)]).toEqual(["10.0.0.10", "10.0.0.20", "10.0.0.254"]);
    expect(rangeCapacity(r)).toBe(11n);
  });

  test.each([
    [{ subnet: "10.0.0.1/24" }, "r.subnet: 10.0.0.1/24 has host bits set; the network is 10.0.0.0/24"],
    [{ subnet: "10.0.0.0/31" }, "r.subnet: 10.0.0.0/31 is too small to allocate from"],
    [{ subnet: "fd00::/127" }, "r.subnet: fd00::/127 is too small to allocate from"],
    [{ subnet: "10.0.0.0/24", rangeStart: "10.0.1.5" }, "r.rangeStart: 10.0.1.5 is not in 10.0.0.0/24"],
    [{ subnet: "10.0.0.0/24", rangeEnd: "fd00::1" }, "r.rangeEnd: fd00::1 is not in 10.0.0.0/24"],
    [{ subnet: "10.0.0.0/24", rangeStart: "10.0.0.9", rangeEnd: "10.0.0.3" }, "r: rangeStart 10.0.0.9 is after rangeEnd 10.0.0.3"],
  ])("rejects %j with code 7", (rc, msg) => {
    expect(() => canonicalizeRange(rc, "r")).toThrow(expect.objectContaining({ code: 7, message: msg }));
  });
});

test("rangeContains() is inclusive at both ends and family-aware", () => {
  const r = canonicalizeRange({ subnet: "10.0.0.0/29", rangeStart: "10.0.0.2", rangeEnd: "10.0.0.5" }, "r");
  expect(["10.0.0.1", "10.0.0.2", "10.0.0.5", "10.0.0.6", "::a00:2"].map((t) => rangeContains(r, ip(t)))).toEqual([false, true, true, false, false]);
});

test("rangesOverlap() compares start..end, not whole subnets", () => {
  const a = canonicalizeRange({ subnet: "10.0.0.0/24", rangeStart: "10.0.0.1", rangeEnd: "10.0.0.100" }, "a");
  const b = canonicalizeRange({ subnet: "10.0.0.0/24", rangeStart: "10.0.0.101", rangeEnd: "10.0.0.200" }, "b");
  const c = canonicalizeRange({ subnet: "10.0.0.0/24", rangeStart: "10.0.0.100", rangeEnd: "10.0.0.110" }, "c");
  expect(rangesOverlap(a, b)).toBe(false);
  expect(rangesOverlap(a, c)).toBe(true);
  expect(rangesOverlap(c, b)).toBe(true);
});
