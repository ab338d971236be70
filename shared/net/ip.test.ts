import { contains, formatIP, formatPrefix, lastOf, mask, networkOf, overlaps, parseIP, parsePrefix } from "./ip";

const ip = (t: string) => parseIP(t)!;
const pfx = (t: string) => parsePrefix(t)!;

describe("parseIP()", () => {
  test.each([
    ["10.0.0.1", 4, 0x0a000001n],
    ["255.255.255.255", 4, 0xffffffffn],
    ["::1", 6, 1n],
    ["fd00::", 6, 0xfd00n << 112n],
    ["::ffff:10.1.2.3", 4, 0x0a010203n], // IPv4-mapped becomes IPv4, as in Go
    ["64:ff9b::10.1.2.3", 6, (0x64n << 112n) | (0xff9bn << 96n) | 0x0a010203n],
  ])("parses %s", (text, family, value) => {
    expect(parseIP(text)).toEqual({ family, value });
  });

  test.each(["", "10.0.0", "10.0.0.256", "010.0.0.1", "1.2.3.4.5", "::1::", "1:2:3:4:5:6:7:8:9", "12345::", "fd00::g", " 10.0.0.1", "10.0.0.1/24", "1:2:3:4:5:6:7::8"])(
    "rejects %j",
    (text) => {
      expect(parseIP(text)).toBeUndefined();
    },
  );
});

describe("formatIP()", () => {
  test.each([
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // first of two equal zero runs
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // the longest run wins
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group is not compressed
    ["FD00:0000::0001", "fd00::1"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["1:0:0:0:0:0:0:0", "1::"],
    ["10.20.30.40", "10.20.30.40"],
  ])("prints %s as %s", (text, want) => {
    expect(formatIP(ip(text))).toBe(want);
  });
});

describe("parsePrefix()", () => {
  test("keeps host bits and rejects bad lengths", () => {
    expect(formatPrefix(pfx("10.1.2.3/24"))).toBe("10.1.2.3/24");
    expect(parsePrefix("10.0.0.0/33")).toBeUndefined();
    expect(parsePrefix("fd00::/129")).toBeUndefined();
    expect(parsePrefix("10.0.0.0/024")).toBeUndefined();
    expect(parsePrefix("10.0.0.0")).toBeUndefined();
    expect(parsePrefix("::ffff:10.0.0.0/104")).toBeUndefined();
  });
});

test("networkOf(), lastOf() and mask() work on both families", () => {
  expect(formatIP(networkOf(pfx("10.1.2.3/20")))).toBe("10.1.0.0");
  expect(formatIP(lastOf(pfx("10.1.2.3/20")))).toBe("10.1.15.255");
  expect(formatIP(lastOf(pfx("fd00::5/120")))).toBe("fd00::ff");
  expect(mask(4, 0)).toBe(0n);
  expect(mask(4, 32)).toBe(0xffffffffn);
});

test("contains() and overlaps() respect family and prefix", () => {
  expect(contains(pfx("10.0.0.0/8"), ip("10.255.0.1"))).toBe(true);
  expect(contains(pfx("10.0.0.0/8"), ip("11.0.0.1"))).toBe(false);
  expect(contains(pfx("::/0"), ip("10.0.0.1"))).toBe(false);
  expect(overlaps(pfx("10.0.0.0/8"), pfx("10.1.0.0/16"))).toBe(true);
  expect(overlaps(pfx("10.1.0.0/16"), pfx("10.2.0.0/16"))).toBe(false);
});
