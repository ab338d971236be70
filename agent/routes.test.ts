import { canonicalDst, checkNodeRoute, diffRoutes, OurRoute, parseOurRoutes, ROUTE_PROTOCOL } from "./routes";

describe("ROUTE_PROTOCOL", () => {
  test("is outside the kernel's own numbers and the routing daemons' well-known ones", () => {
    const taken = [0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 42, 80, 99, ...Array.from({ length: 13 }, (_, i) => 186 + i)];
    expect(taken).not.toContain(ROUTE_PROTOCOL);
    expect(ROUTE_PROTOCOL).toBeGreaterThan(4);
    expect(ROUTE_PROTOCOL).toBeLessThan(256);
  });
});

describe("checkNodeRoute", () => {
  test("canonicalises addresses", () => {
    expect(checkNodeRoute({ node: "w1", dst: "fd00:10:244:0001::/64", via: "FD00::0002" }).route).toEqual({ node: "w1", dst: "fd00:10:244:1::/64", via: "fd00::2", family: 6 });
  });
  test.each([
    [{ node: "w1", dst: "10.244.1.0/24", via: "fd00::2" }, /family/],
    [{ node: "w1", dst: "10.244.1.5/24", via: "10.0.0.2" }, /host bits/],
    [{ node: "w1", dst: "0.0.0.0/0", via: "10.0.0.2" }, /default route/],
    [{ node: "w1", dst: "10.244.1.0/24", via: "10.0.0.2 dev eth0" }, /not an IP/],
    [{ node: "w1", dst: "10.244.1.0/24 via 1.2.3.4", via: "10.0.0.2" }, /not a CIDR/],
    [{ node: "-w1", dst: "10.244.1.0/24", via: "10.0.0.2" }, /node name/],
  ])("rejects %j", (r, why) => {
    expect(checkNodeRoute(r).problem).toMatch(why);
  });
});

describe("parseOurRoutes", () => {
  test("reads `ip -j route show proto N` rows: bare host addresses, default, duplicates", () => {
    const rows = [
      { dst: "10.244.2.0/24", gateway: "172.18.0.3", dev: "eth0", flags: [] },
      { dst: "10.244.2.0/24", gateway: "172.18.0.9", dev: "eth0", metric: 5, flags: [] },
      { dst: "10.9.9.9", gateway: "172.18.0.4", dev: "eth0" },
      { dst: "default", gateway: "172.18.0.1", dev: "eth0" },
    ];
    expect(parseOurRoutes(rows, 4)).toEqual([
      { family: 4, dst: "10.244.2.0/24", via: "172.18.0.3", metric: undefined, duplicate: undefined },
      { family: 4, dst: "10.244.2.0/24", via: "172.18.0.9", metric: 5, duplicate: true },
      { family: 4, dst: "10.9.9.9/32", via: "172.18.0.4", metric: undefined, duplicate: undefined },
      { family: 4, dst: "0.0.0.0/0", via: "172.18.0.1", metric: undefined, duplicate: undefined },
    ]);
    expect(canonicalDst("default", 6)).toBe("::/0");
    expect(canonicalDst("fd00::1", 6)).toBe("fd00::1/128");
    expect(canonicalDst("10.0.0.0/8", 6)).toBeUndefined();
  });
});

describe("diffRoutes", () => {
  const ours = (dst: string, via: string, extra: Partial<OurRoute> = {}): OurRoute => ({ family: dst.includes(":") ? 6 : 4, dst, via, ...extra });

  test("nothing to do when ours match, in either family", () => {
    const d = diffRoutes(
      [
        { node: "b", dst: "10.244.2.0/24", via: "172.18.0.3" },
        { node: "b", dst: "fd00:10:244:2::/64", via: "fc00:f853:ccd:e793::3" },
      ],
      [ours("10.244.2.0/24", "172.18.0.3"), ours("fd00:10:244:2::/64", "fc00:f853:ccd:e793::3", { metric: 1024 })],
    );
    expect(d.write).toEqual([]);
    expect(d.remove).toEqual([]);
    expect(d.unchanged).toHaveLength(2);
  });

  test("adds the missing, repoints a moved node, removes routes no node wants (and duplicates)", () => {
    const d = diffRoutes(
      [
        { node: "b", dst: "10.244.2.0/24", via: "172.18.0.33" },
        { node: "c", dst: "10.244.3.0/24", via: "172.18.0.4" },
      ],
      [ours("10.244.2.0/24", "172.18.0.3"), ours("10.244.9.0/24", "172.18.0.9"), ours("10.244.3.0/24", "172.18.0.4", { metric: 7, duplicate: true })],
    );
    expect(d.write.map((w) => [w.route.dst, w.route.via, w.old?.via])).toEqual([
      ["10.244.2.0/24", "172.18.0.33", "172.18.0.3"],
      ["10.244.3.0/24", "172.18.0.4", undefined],
    ]);
    expect(d.remove.map((r) => r.dst)).toEqual(["10.244.9.0/24", "10.244.3.0/24"]);
  });

  test("two nodes with one pod CIDR: the first by name wins, the other is reported", () => {
    const d = diffRoutes(
      [
        { node: "z", dst: "10.244.2.0/24", via: "172.18.0.9" },
        { node: "a", dst: "10.244.2.0/24", via: "172.18.0.3" },
        { node: "bad", dst: "nonsense", via: "172.18.0.5" },
      ],
      [],
    );
    expect(d.write.map((w) => w.route.node)).toEqual(["a"]);
    expect(d.invalid.map((i) => [i.route.node, i.problem])).toEqual([
      ["bad", expect.stringMatching(/not a CIDR/)],
      ["z", expect.stringMatching(/node a has the same pod CIDR/)],
    ]);
  });
});
