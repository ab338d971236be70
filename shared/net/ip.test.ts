import {
  addToIP,
  contains,
  familyBits,
  formatIP,
  formatPrefix,
  IP,
  ipEqual,
  isIPText,
  isPrefixText,
  lastOf,
  mask,
  networkOf,
  overlaps,
  parseIP,
  parsePrefix,
  Prefix,
} from "./ip";

/** Parses or fails the test, so that later assertions read naturally. */
const ip = (text: string): IP => {
  const v = parseIP(text);
  if (!v) throw new Error(`test setup: ${text} does not parse`);
  return v;
};
const prefix = (text: string): Prefix => {
  const p = parsePrefix(text);
  if (!p) throw new Error(`test setup: ${text} does not parse`);
  return p;
};
/** Parse and print again: the Go-compatible canonical text. */
const canon = (text: string): string => formatIP(ip(text));

describe("parseIP()", () => {
  test.each([
    ["10.0.0.1", 4, 0x0a000001n],
    ["255.255.255.255", 4, 0xffffffffn],
    ["::1", 6, 1n],
    ["fd00::", 6, 0xfd00n << 112n],
    ["::ffff:10.1.2.3", 4, 0x0a010203n], // IPv4-mapped becomes IPv4, as in Go
    ["64:ff9b::10.1.2.3", 6, (0x64n << 112n) | (0xff9bn << 96n) | 0x0a010203n],
  ])("parseIP() parses %s", (text, family, value) => {
    expect(parseIP(text)).toEqual({ family, value });
  });

  test.each(["", "10.0.0", "10.0.0.256", "010.0.0.1", "1.2.3.4.5", "::1::", "1:2:3:4:5:6:7:8:9", "12345::", "fd00::g", " 10.0.0.1", "10.0.0.1/24", "1:2:3:4:5:6:7::8"])(
    "parseIP() rejects %j",
    (text) => {
      expect(parseIP(text)).toBeUndefined();
    },
  );
});

describe("parseIP() IPv4", () => {
  test("parseIP() reads dotted quads into a 32-bit value", () => {
    expect(parseIP("10.1.2.3")).toEqual({ family: 4, value: 0x0a010203n });
    expect(parseIP("0.0.0.0")).toEqual({ family: 4, value: 0n });
    expect(parseIP("255.255.255.255")).toEqual({ family: 4, value: 0xffffffffn });
    expect(parseIP("192.168.0.1")).toEqual({ family: 4, value: 0xc0a80001n });
  });

  test("parseIP() rejects leading zeros in an IPv4 octet (octal ambiguity, as Go does)", () => {
    for (const text of ["010.0.0.1", "10.00.0.1", "10.0.0.01", "1.2.3.04", "00.0.0.0", "10.0.0.001"]) {
      expect(parseIP(text)).toBeUndefined();
    }
  });

  test("parseIP() rejects IPv4 octets above 255 and negative or non-decimal ones", () => {
    for (const text of ["256.0.0.1", "10.0.0.256", "1.2.3.1000", "-1.2.3.4", "1.2.3.-4", "0x1.2.3.4", "1.2.3.0x4", "1.2.3.+4", "1e1.2.3.4"]) {
      expect(parseIP(text)).toBeUndefined();
    }
  });

  test("parseIP() rejects the wrong number of IPv4 octets and empty octets", () => {
    for (const text of ["1.2.3", "1.2.3.4.5", "1..3.4", "1.2.3.", ".1.2.3", "1234", ""]) {
      expect(parseIP(text)).toBeUndefined();
    }
  });

  test("parseIP() rejects surrounding whitespace, newlines, prefixes and ports", () => {
    for (const text of [" 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n", "1.2.3.4\t", "1.2.3.4/24", "1.2.3.4:80", "1.2.3.4;rm"]) {
      expect(parseIP(text)).toBeUndefined();
    }
  });

  test("parseIP() returns undefined for non-string input instead of throwing", () => {
    for (const v of [undefined, null, 1234, { family: 4 }, ["1.2.3.4"]]) {
      expect(parseIP(v as unknown as string)).toBeUndefined();
    }
  });
});

describe("parseIP() IPv6", () => {
  test("parseIP() reads a full eight-group IPv6 address", () => {
    expect(parseIP("2001:db8:0:0:0:0:0:1")).toEqual({ family: 6, value: (0x20010db8n << 96n) | 1n });
    expect(parseIP("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")).toEqual({ family: 6, value: (1n << 128n) - 1n });
  });

  test("parseIP() expands :: anywhere in the address", () => {
    expect(parseIP("::")).toEqual({ family: 6, value: 0n });
    expect(parseIP("::1")).toEqual({ family: 6, value: 1n });
    expect(parseIP("1::")).toEqual({ family: 6, value: 1n << 112n });
    expect(parseIP("2001:db8::1")).toEqual({ family: 6, value: (0x20010db8n << 96n) | 1n });
    expect(parseIP("1:2:3::7:8")).toEqual(parseIP("1:2:3:0:0:0:7:8"));
  });

  test("parseIP() accepts :: standing for a single zero group", () => {
    expect(parseIP("1:2:3:4:5:6:7::")).toEqual(parseIP("1:2:3:4:5:6:7:0"));
    expect(parseIP("::2:3:4:5:6:7:8")).toEqual(parseIP("0:2:3:4:5:6:7:8"));
    expect(parseIP("1:2:3::5:6:7:8")).toEqual(parseIP("1:2:3:0:5:6:7:8"));
  });

  test("parseIP() is case-insensitive and accepts leading zeros inside a group", () => {
    expect(parseIP("2001:DB8::ABCD")).toEqual(parseIP("2001:db8::abcd"));
    expect(parseIP("2001:0db8:0000::0001")).toEqual(parseIP("2001:db8::1"));
  });

  test("parseIP() reads an embedded IPv4 tail as the last 32 bits", () => {
    expect(parseIP("::1.2.3.4")).toEqual({ family: 6, value: 0x01020304n });
    expect(parseIP("64:ff9b::192.0.2.33")).toEqual({ family: 6, value: (0x0064ff9bn << 96n) | 0xc0000221n });
    expect(parseIP("1:2:3:4:5:6:1.2.3.4")).toEqual(parseIP("1:2:3:4:5:6:102:304"));
  });

  test("parseIP() turns an IPv4-mapped IPv6 address into IPv4, as Go does", () => {
    expect(parseIP("::ffff:10.1.2.3")).toEqual({ family: 4, value: 0x0a010203n });
    expect(parseIP("::FFFF:10.1.2.3")).toEqual({ family: 4, value: 0x0a010203n });
    expect(parseIP("0:0:0:0:0:ffff:a01:203")).toEqual({ family: 4, value: 0x0a010203n });
    expect(parseIP("::ffff:0.0.0.0")).toEqual({ family: 4, value: 0n });
  });

  test("parseIP() does not treat ::fffe:… or ::1:ffff:… as IPv4-mapped", () => {
    expect(parseIP("::fffe:10.1.2.3")?.family).toBe(6);
    expect(parseIP("::1:ffff:10.1.2.3")?.family).toBe(6);
    expect(parseIP("::ffff")?.family).toBe(6);
  });

  test("parseIP() rejects an embedded IPv4 tail that is invalid or not last", () => {
    for (const text of ["::1.2.3", "::1.2.3.256", "::01.2.3.4", "::1.2.3.4:1", "1.2.3.4::", "::ffff:1.2.3.4.5", "1:2:3:4:5:6:7:1.2.3.4", "::ffff:1.2.3.4/8"]) {
      expect(parseIP(text)).toBeUndefined();
    }
  });

  test("parseIP() rejects malformed IPv6 text", () => {
    for (const text of [
      ":",
      ":::",
      "1::2::3",
      "::1::",
      ":1::",
      "1::2:",
      ":1:2:3:4:5:6:7:8",
      "1:2:3:4:5:6:7:8:",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7:8::",
      "::1:2:3:4:5:6:7:8",
      "12345::",
      "g::1",
      "2001:db8::1%eth0",
      "[2001:db8::1]",
      " ::1",
      "::1 ",
      "::1\n",
      "2001:db8::/64",
    ]) {
      expect(parseIP(text)).toBeUndefined();
    }
  });
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
  ])("formatIP() prints %s as %s", (text, want) => {
    expect(formatIP(ip(text))).toBe(want);
  });

  test("formatIP() prints IPv4 as a dotted quad without leading zeros", () => {
    expect(formatIP({ family: 4, value: 0x0a000001n })).toBe("10.0.0.1");
    expect(formatIP({ family: 4, value: 0n })).toBe("0.0.0.0");
    expect(formatIP({ family: 4, value: 0xffffffffn })).toBe("255.255.255.255");
  });

  test("formatIP() prints all-zero IPv6 as :: and the loopback as ::1", () => {
    expect(formatIP({ family: 6, value: 0n })).toBe("::");
    expect(formatIP({ family: 6, value: 1n })).toBe("::1");
    expect(canon("1::")).toBe("1::");
  });

  test("formatIP() prints lower-case hex without leading zeros", () => {
    expect(canon("2001:0DB8:0000:0000:0000:0000:0000:000A")).toBe("2001:db8::a");
    expect(canon("FE80::ABCD:EF01")).toBe("fe80::abcd:ef01");
  });

  test("formatIP() compresses the longest zero run", () => {
    expect(canon("2001:0:0:1:0:0:0:1")).toBe("2001:0:0:1::1");
    expect(canon("2001:db8:0:0:1:0:0:0")).toBe("2001:db8:0:0:1::");
    expect(canon("0:0:1:0:0:0:0:1")).toBe("0:0:1::1");
  });

  test("formatIP() compresses the first zero run on a tie", () => {
    expect(canon("2001:db8:0:0:1:0:0:1")).toBe("2001:db8::1:0:0:1");
    expect(canon("0:0:1:1:0:0:1:1")).toBe("::1:1:0:0:1:1");
    expect(canon("1:0:0:1:1:1:0:0")).toBe("1::1:1:1:0:0");
  });

  test("formatIP() does not use :: for a single zero group", () => {
    expect(canon("2001:db8:0:1:1:1:1:1")).toBe("2001:db8:0:1:1:1:1:1");
    expect(canon("1:2:3:4:5:6:7::")).toBe("1:2:3:4:5:6:7:0");
    expect(canon("::2:3:4:5:6:7:8")).toBe("0:2:3:4:5:6:7:8");
    expect(canon("1:0:1:0:1:0:1:0")).toBe("1:0:1:0:1:0:1:0");
  });

  test("formatIP() prints an IPv4-mapped address as IPv4 after parsing", () => {
    expect(canon("::ffff:192.168.1.1")).toBe("192.168.1.1");
  });

  test("formatIP() prints an IPv4-compatible or NAT64 address in hex, as Go does", () => {
    expect(canon("::1.2.3.4")).toBe("::102:304");
    expect(canon("64:ff9b::192.0.2.33")).toBe("64:ff9b::c000:221");
  });

  test("formatIP() round-trips through parseIP() for a range of values", () => {
    for (const text of ["::", "::1", "1::", "fe80::1", "2001:db8::1:0:0:1", "2001:db8:0:1:1:1:1:1", "10.0.0.1", "255.0.255.0"]) {
      expect(canon(text)).toBe(text);
      expect(parseIP(canon(text))).toEqual(parseIP(text));
    }
  });
});

describe("parsePrefix() and formatPrefix()", () => {
  test("parsePrefix() keeps the address as written, host bits included", () => {
    expect(parsePrefix("10.1.2.3/24")).toEqual({ ip: { family: 4, value: 0x0a010203n }, bits: 24 });
    expect(parsePrefix("2001:db8::5/64")).toEqual({ ip: ip("2001:db8::5"), bits: 64 });
    expect(formatPrefix(prefix("10.1.2.3/24"))).toBe("10.1.2.3/24");
  });

  test("parsePrefix() accepts the whole range of prefix lengths for each family", () => {
    expect(parsePrefix("0.0.0.0/0")?.bits).toBe(0);
    expect(parsePrefix("10.0.0.1/32")?.bits).toBe(32);
    expect(parsePrefix("::/0")?.bits).toBe(0);
    expect(parsePrefix("::1/128")?.bits).toBe(128);
  });

  test("parsePrefix() rejects prefix lengths that are too long, negative, padded or not decimal", () => {
    for (const text of ["10.0.0.0/33", "2001:db8::/129", "fd00::/129", "10.0.0.0/-1", "10.0.0.0/08", "10.0.0.0/024", "10.0.0.0/ 8", "10.0.0.0/8 ", "10.0.0.0/0x8", "10.0.0.0/8.0", "10.0.0.0/1000"]) {
      expect(parsePrefix(text)).toBeUndefined();
    }
  });

  test("parsePrefix() rejects a missing slash, address or length and extra words", () => {
    for (const text of ["10.0.0.0", "/8", "10.0.0.0/", "10.0.0.0/8/8", "10.0.0.0/8 dev eth0", "010.0.0.0/8", "", "default"]) {
      expect(parsePrefix(text)).toBeUndefined();
    }
  });

  test("parsePrefix() rejects IPv4-mapped IPv6 prefixes", () => {
    expect(parsePrefix("::ffff:10.0.0.0/104")).toBeUndefined();
    expect(parsePrefix("::ffff:10.0.0.0/8")).toBeUndefined();
  });

  test("parsePrefix() returns undefined for non-string input", () => {
    expect(parsePrefix(undefined as unknown as string)).toBeUndefined();
    expect(parsePrefix(24 as unknown as string)).toBeUndefined();
  });

  test("formatPrefix() prints the canonical address with its length", () => {
    expect(formatPrefix(prefix("2001:DB8:0:0:0:0:0:5/64"))).toBe("2001:db8::5/64");
    expect(formatPrefix(prefix("10.1.2.3/24"))).toBe("10.1.2.3/24");
    expect(formatPrefix(prefix("::/0"))).toBe("::/0");
  });
});

describe("mask(), networkOf(), lastOf()", () => {
  test("familyBits() is 32 for IPv4 and 128 for IPv6", () => {
    expect(familyBits(4)).toBe(32);
    expect(familyBits(6)).toBe(128);
  });

  test("mask() sets the top bits of the family's width", () => {
    expect(mask(4, 0)).toBe(0n);
    expect(mask(4, 8)).toBe(0xff000000n);
    expect(mask(4, 24)).toBe(0xffffff00n);
    expect(mask(4, 31)).toBe(0xfffffffen);
    expect(mask(4, 32)).toBe(0xffffffffn);
    expect(mask(6, 0)).toBe(0n);
    expect(mask(6, 64)).toBe(((1n << 64n) - 1n) << 64n);
    expect(mask(6, 128)).toBe((1n << 128n) - 1n);
  });

  test("networkOf() clears the host bits", () => {
    expect(formatIP(networkOf(prefix("10.1.2.3/24")))).toBe("10.1.2.0");
    expect(formatIP(networkOf(prefix("10.1.2.3/20")))).toBe("10.1.0.0");
    expect(formatIP(networkOf(prefix("10.1.2.3/8")))).toBe("10.0.0.0");
    expect(formatIP(networkOf(prefix("10.1.2.3/32")))).toBe("10.1.2.3");
    expect(formatIP(networkOf(prefix("10.1.2.3/0")))).toBe("0.0.0.0");
    expect(formatIP(networkOf(prefix("2001:db8:1:2:3:4:5:6/64")))).toBe("2001:db8:1:2::");
    expect(networkOf(prefix("2001:db8::1/64")).family).toBe(6);
  });

  test("lastOf() sets all host bits", () => {
    expect(formatIP(lastOf(prefix("10.1.2.3/24")))).toBe("10.1.2.255");
    expect(formatIP(lastOf(prefix("10.1.2.3/20")))).toBe("10.1.15.255");
    expect(formatIP(lastOf(prefix("10.1.2.3/31")))).toBe("10.1.2.3");
    expect(formatIP(lastOf(prefix("10.1.2.2/31")))).toBe("10.1.2.3");
    expect(formatIP(lastOf(prefix("10.1.2.3/32")))).toBe("10.1.2.3");
    expect(formatIP(lastOf(prefix("10.1.2.3/0")))).toBe("255.255.255.255");
    expect(formatIP(lastOf(prefix("fd00::5/120")))).toBe("fd00::ff");
    expect(formatIP(lastOf(prefix("2001:db8::5/64")))).toBe("2001:db8::ffff:ffff:ffff:ffff");
    expect(formatIP(lastOf(prefix("::/0")))).toBe("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  });
});

describe("contains() and overlaps()", () => {
  test("contains() is true for the first, last and inner addresses of a prefix", () => {
    const p = prefix("10.0.0.0/8");
    expect(contains(p, ip("10.0.0.0"))).toBe(true);
    expect(contains(p, ip("10.255.255.255"))).toBe(true);
    expect(contains(p, ip("10.1.2.3"))).toBe(true);
  });

  test("contains() is false just outside a prefix", () => {
    const p = prefix("10.0.0.0/8");
    expect(contains(p, ip("9.255.255.255"))).toBe(false);
    expect(contains(p, ip("11.0.0.0"))).toBe(false);
  });

  test("contains() ignores the host bits of the prefix", () => {
    expect(contains(prefix("10.1.2.3/24"), ip("10.1.2.200"))).toBe(true);
    expect(contains(prefix("10.1.2.3/24"), ip("10.1.3.1"))).toBe(false);
  });

  test("contains() is false across families, even for /0 and IPv4-compatible addresses", () => {
    expect(contains(prefix("0.0.0.0/0"), ip("::1"))).toBe(false);
    expect(contains(prefix("::/0"), ip("10.0.0.1"))).toBe(false);
    expect(contains(prefix("::/96"), ip("1.2.3.4"))).toBe(false);
    expect(contains(prefix("::/0"), ip("2001:db8::1"))).toBe(true);
  });

  test("contains() treats an IPv4-mapped address as the IPv4 address", () => {
    expect(contains(prefix("10.0.0.0/8"), ip("::ffff:10.9.9.9"))).toBe(true);
  });

  test("contains() works on IPv6 prefixes", () => {
    const p = prefix("2001:db8::/32");
    expect(contains(p, ip("2001:db8:ffff::1"))).toBe(true);
    expect(contains(p, ip("2001:db9::"))).toBe(false);
    expect(contains(prefix("2001:db8::1/128"), ip("2001:db8::1"))).toBe(true);
    expect(contains(prefix("2001:db8::1/128"), ip("2001:db8::2"))).toBe(false);
  });

  test("overlaps() is true for nested prefixes in both orders", () => {
    expect(overlaps(prefix("10.0.0.0/8"), prefix("10.1.0.0/16"))).toBe(true);
    expect(overlaps(prefix("10.1.0.0/16"), prefix("10.0.0.0/8"))).toBe(true);
    expect(overlaps(prefix("10.0.0.0/24"), prefix("10.0.0.0/24"))).toBe(true);
    expect(overlaps(prefix("0.0.0.0/0"), prefix("192.168.1.1/32"))).toBe(true);
  });

  test("overlaps() is false for adjacent and disjoint prefixes", () => {
    expect(overlaps(prefix("10.0.0.0/24"), prefix("10.0.1.0/24"))).toBe(false);
    expect(overlaps(prefix("10.1.0.0/16"), prefix("10.2.0.0/16"))).toBe(false);
    expect(overlaps(prefix("10.0.0.0/25"), prefix("10.0.0.128/25"))).toBe(false);
    expect(overlaps(prefix("2001:db8::/64"), prefix("2001:db8:0:1::/64"))).toBe(false);
  });

  test("overlaps() uses the network of prefixes written with host bits", () => {
    expect(overlaps(prefix("10.0.0.5/24"), prefix("10.0.0.200/30"))).toBe(true);
    expect(overlaps(prefix("10.0.0.200/30"), prefix("10.0.0.5/24"))).toBe(true);
    expect(overlaps(prefix("10.0.0.5/30"), prefix("10.0.0.200/30"))).toBe(false);
  });

  test("overlaps() is false across families", () => {
    expect(overlaps(prefix("0.0.0.0/0"), prefix("::/0"))).toBe(false);
  });
});

describe("small helpers", () => {
  test("ipEqual() compares family and value", () => {
    expect(ipEqual(ip("10.0.0.1"), ip("::ffff:10.0.0.1"))).toBe(true);
    expect(ipEqual(ip("0.0.0.1"), ip("::1"))).toBe(false);
    expect(ipEqual(ip("10.0.0.1"), ip("10.0.0.2"))).toBe(false);
  });

  test("addToIP() adds to the value and keeps the family", () => {
    expect(formatIP(addToIP(ip("10.0.0.255"), 1n))).toBe("10.0.1.0");
    expect(formatIP(addToIP(ip("2001:db8::ffff"), 1n))).toBe("2001:db8::1:0");
    expect(formatIP(addToIP(ip("10.0.1.0"), -1n))).toBe("10.0.0.255");
  });

  test("isIPText() and isPrefixText() agree with the parsers", () => {
    expect(isIPText("10.0.0.1")).toBe(true);
    expect(isIPText("10.0.0.1/8")).toBe(false);
    expect(isPrefixText("10.0.0.1/8")).toBe(true);
    expect(isPrefixText("10.0.0.1")).toBe(false);
    expect(isPrefixText("fe80::/10")).toBe(true);
  });
});
