import { formatIP, parseIP } from "../../shared/net/ip";
import { addressesAfter, canonicalizeRangeSet, rangeSetCapacity } from "./range-set";

const walk = (set: ReturnType<typeof canonicalizeRangeSet>, after?: string) =>
  [...addressesAfter(set, after ? parseIP(after) : undefined)].map((a) => formatIP(a.ip));

describe("addressesAfter()", () => {
  const set = canonicalizeRangeSet([{ subnet: "10.0.0.0/29" }], "s"); // .1 gateway, .1-.6 range

  test("starts at the range start and skips the gateway", () => {
    expect(walk(set)).toEqual(["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]);
  });

  test("continues after the last reserved address and wraps around", () => {
    expect(walk(set, "10.0.0.4")).toEqual(["10.0.0.5", "10.0.0.6", "10.0.0.2", "10.0.0.3", "10.0.0.4"]);
  });

  test("treats a hint outside the set as no hint", () => {
    expect(walk(set, "192.168.0.1")[0]).toBe("10.0.0.2");
  });

  test("walks every range of a multi-range set once, in order, wrapping", () => {
    const multi = canonicalizeRangeSet(
      [
        { subnet: "10.0.0.0/24", rangeStart: "10.0.0.10", rangeEnd: "10.0.0.11" },
        { subnet: "10.0.1.0/24", rangeStart: "10.0.1.10", rangeEnd: "10.0.1.11" },
      ],
      "s",
    );
    expect(walk(multi, "10.0.0.11")).toEqual(["10.0.1.10", "10.0.1.11", "10.0.0.10", "10.0.0.11"]);
    expect(walk(multi, "10.0.1.11")).toEqual(["10.0.0.10", "10.0.0.11", "10.0.1.10", "10.0.1.11"]);
    expect(rangeSetCapacity(multi)).toBe(4n);
  });

  test("is lazy on a huge IPv6 range", () => {
    const big = canonicalizeRangeSet([{ subnet: "fd00::/64" }], "s");
    const it = addressesAfter(big, undefined);
    expect(formatIP(it.next().value!.ip)).toBe("fd00::2");
    expect(rangeSetCapacity(big)).toBe((1n << 64n) - 2n);
  });
});

describe("canonicalizeRangeSet()", () => {
  test("rejects an empty set, mixed families and overlapping ranges", () => {
    expect(() => canonicalizeRangeSet([], "s")).toThrow("s: empty range set");
    expect(() => canonicalizeRangeSet([{ subnet: "10.0.0.0/24" }, { subnet: "fd00::/64" }], "s")).toThrow("mixed address families");
    expect(() => canonicalizeRangeSet([{ subnet: "10.0.0.0/24" }, { subnet: "10.0.0.0/25" }], "s")).toThrow("overlap");
  });
});
