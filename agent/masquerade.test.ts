import { iptablesChainLines, iptablesRemovalInput, iptablesSyncInput, minimalPrefixes, nftRuleset, nftStamp, nftTableMatches, planMasquerade } from "./masquerade";
import { parsePrefix } from "../shared/net/ip";

const spec = {
  podCIDRs: ["10.244.1.0/24", "fd00:10:244:1::/64"],
  clusterCIDRs: ["10.244.0.0/16", "10.244.2.0/24", "fd00:10:244::/56", "10.96.0.0/12"],
  nodeIPs: ["172.18.0.2", "172.18.0.3", "172.18.0.3", "fc00::2"],
};

describe("planMasquerade", () => {
  test("per family: our pod CIDRs, and the minimal sorted set of destinations that keep their source", () => {
    expect(planMasquerade(spec)).toEqual([
      { family: 4, pods: ["10.244.1.0/24"], noMasq: ["10.96.0.0/12", "10.244.0.0/16", "172.18.0.2/32", "172.18.0.3/32"] },
      { family: 6, pods: ["fd00:10:244:1::/64"], noMasq: ["fc00::2/128", "fd00:10:244::/56"] },
    ]);
  });
  test("a family without a pod CIDR of ours gets no rules", () => {
    expect(planMasquerade({ ...spec, podCIDRs: ["10.244.1.0/24"] }).map((p) => p.family)).toEqual([4]);
  });
  test.each([
    [{ podCIDRs: ["10.244.1.0/24 ; flush ruleset"] }, /pod CIDR/],
    [{ clusterCIDRs: ["10.244.0.0"] }, /cluster CIDR/],
    [{ nodeIPs: ["172.18.0.2/16"] }, /node address/],
  ])("rejects %j", (change, why) => {
    expect(() => planMasquerade({ ...spec, ...change })).toThrow(why);
  });
  test("minimalPrefixes drops duplicates and covered prefixes, keeps adjacent ones", () => {
    const ps = ["10.0.0.0/25", "10.0.0.128/25", "10.0.0.5/32", "10.0.0.0/25", "10.0.0.77/26"].map((t) => parsePrefix(t)!);
    expect(minimalPrefixes(ps)).toEqual(["10.0.0.0/25", "10.0.0.128/25"]);
  });
});

describe("nftables ruleset", () => {
  const plans = planMasquerade(spec);
  test("replaces only our table, in one transaction", () => {
    const text = nftRuleset(plans);
    const stamp = nftStamp(plans);
    expect(text).toBe(
      [
        "table inet patchcord_agent {}",
        "delete table inet patchcord_agent",
        "table inet patchcord_agent {",
        "\tset pods4 { type ipv4_addr; flags interval; elements = { 10.244.1.0/24 }; }",
        "\tset no_masq4 { type ipv4_addr; flags interval; elements = { 10.96.0.0/12, 10.244.0.0/16, 172.18.0.2, 172.18.0.3 }; }",
        "\tset pods6 { type ipv6_addr; flags interval; elements = { fd00:10:244:1::/64 }; }",
        "\tset no_masq6 { type ipv6_addr; flags interval; elements = { fc00::2, fd00:10:244::/56 }; }",
        "\tchain postrouting {",
        "\t\ttype nat hook postrouting priority srcnat; policy accept;",
        `\t\tip saddr @pods4 ip daddr != @no_masq4 masquerade comment "${stamp}"`,
        `\t\tip6 saddr @pods6 ip6 daddr != @no_masq6 masquerade comment "${stamp}"`,
        "\t}",
        "}",
        "",
      ].join("\n"),
    );
    expect(stamp).toMatch(/^patchcord-agent [0-9a-f]{16}$/);
    expect(nftStamp(planMasquerade({ ...spec, nodeIPs: ["172.18.0.2"] }))).not.toBe(stamp);
  });

  // The shape `nft -j list table inet patchcord_agent` prints (nft 1.0.6), for the v4 half of the spec.
  const v4 = planMasquerade({ ...spec, podCIDRs: ["10.244.1.0/24"] });
  const listing = (over: { elems?: unknown[]; comment?: string; extra?: Record<string, Record<string, unknown>>[]; prio?: number } = {}) => ({
    nftables: [
      { metainfo: { version: "1.0.6" } },
      { table: { family: "inet", name: "patchcord_agent", handle: 3 } },
      { set: { family: "inet", name: "pods4", table: "patchcord_agent", type: "ipv4_addr", flags: ["interval"], elem: [{ prefix: { addr: "10.244.1.0", len: 24 } }] } },
      {
        set: {
          family: "inet",
          name: "no_masq4",
          table: "patchcord_agent",
          type: "ipv4_addr",
          flags: ["interval"],
          elem: over.elems ?? ["172.18.0.3", { prefix: { addr: "10.96.0.0", len: 12 } }, { prefix: { addr: "10.244.0.0", len: 16 } }, "172.18.0.2"],
        },
      },
      { chain: { family: "inet", table: "patchcord_agent", name: "postrouting", type: "nat", hook: "postrouting", prio: over.prio ?? 100, policy: "accept" } },
      { rule: { family: "inet", table: "patchcord_agent", chain: "postrouting", comment: over.comment ?? nftStamp(v4), expr: [] } },
      ...(over.extra ?? []),
    ],
  });
  test("a listing of exactly our table matches (elements in any order)", () => {
    expect(nftTableMatches(listing(), v4)).toBe(true);
  });
  test.each([
    ["a missing element", { elems: ["172.18.0.2", { prefix: { addr: "10.96.0.0", len: 12 } }, { prefix: { addr: "10.244.0.0", len: 16 } }] }],
    ["an older ruleset's stamp", { comment: "patchcord-agent 0000000000000000" }],
    ["another priority", { prio: 0 }],
    ["a rule someone added", { extra: [{ rule: { chain: "postrouting", comment: "x", expr: [] } }] }],
    ["a chain someone added", { extra: [{ chain: { name: "other", type: "filter", hook: "input", prio: 0, policy: "accept" } }] }],
  ])("does not match with %s", (_what, over) => {
    expect(nftTableMatches(listing(over), v4)).toBe(false);
  });
  test("a listing for the dual-stack plan does not match a v4-only table", () => {
    expect(nftTableMatches(listing(), plans)).toBe(false);
  });
});

describe("iptables rules", () => {
  const [v4] = planMasquerade(spec);
  test("chain lines as iptables -S prints them: RETURN for cluster destinations, then MASQUERADE", () => {
    expect(iptablesChainLines(v4)).toEqual([
      "-N PATCHCORD-AGENT-MASQ",
      "-A PATCHCORD-AGENT-MASQ -d 10.96.0.0/12 -j RETURN",
      "-A PATCHCORD-AGENT-MASQ -d 10.244.0.0/16 -j RETURN",
      "-A PATCHCORD-AGENT-MASQ -d 172.18.0.2/32 -j RETURN",
      "-A PATCHCORD-AGENT-MASQ -d 172.18.0.3/32 -j RETURN",
      "-A PATCHCORD-AGENT-MASQ -s 10.244.1.0/24 -j MASQUERADE",
    ]);
  });
  const jump = '-A POSTROUTING -m comment --comment "patchcord agent: masquerade pod traffic leaving the cluster" -j PATCHCORD-AGENT-MASQ';
  test("sync input adds the jump only when missing, and drops extra jumps", () => {
    expect(iptablesSyncInput(v4, []).split("\n")).toContain(jump);
    const once = iptablesSyncInput(v4, [jump]).split("\n");
    expect(once.filter((l) => l.includes("POSTROUTING"))).toEqual([]);
    const twice = iptablesSyncInput(v4, [jump, jump]).split("\n");
    expect(twice.filter((l) => l.includes("POSTROUTING"))).toEqual([jump.replace("-A ", "-D ")]);
    expect(once[0]).toBe("*nat");
    expect(once[1]).toBe(":PATCHCORD-AGENT-MASQ - [0:0]");
    expect(once.at(-2)).toBe("COMMIT");
  });
  test("removal deletes the jumps before the chain", () => {
    expect(iptablesRemovalInput([jump]).split("\n")).toEqual(["*nat", jump.replace("-A ", "-D "), ":PATCHCORD-AGENT-MASQ - [0:0]", "-X PATCHCORD-AGENT-MASQ", "COMMIT", ""]);
  });
});
