import type { Invocation } from "../../shared/cni/env";
import { formatIP } from "../../shared/net/ip";
import { parseHostLocalConfig } from "./config";
import { parseResolvConf } from "./dns";

const inv = (args: Record<string, string> = {}): Invocation => ({ command: "ADD", containerId: "c", netns: "/x", ifname: "eth0", args, path: [] });
const starts = (c: ReturnType<typeof parseHostLocalConfig>) => c.rangeSets.map((s) => formatIP(s[0].start));

describe("parseHostLocalConfig()", () => {
  test("orders range sets as the reference: runtimeConfig.ipRanges, legacy subnet, ranges", () => {
    const c = parseHostLocalConfig(
      {
        ipam: { type: "host-local", subnet: "10.1.0.0/24", ranges: [[{ subnet: "10.2.0.0/24" }]] },
        runtimeConfig: { ipRanges: [[{ subnet: "10.3.0.0/24" }]] },
      },
      inv(),
    );
    expect(starts(c)).toEqual(["10.3.0.1", "10.1.0.1", "10.2.0.1"]);
    expect(c.dataDir).toBe("/var/lib/cni/networks");
  });

  test("collects requested addresses from CNI_ARGS, args.cni.ips and runtimeConfig.ips without duplicates", () => {
    const c = parseHostLocalConfig(
      {
        ipam: { type: "host-local", subnet: "10.1.0.0/24" },
        args: { cni: { ips: ["10.1.0.7/24"] } },
        runtimeConfig: { ips: ["10.1.0.8", "10.1.0.5"] },
      },
      inv({ IP: "10.1.0.5", K8S_POD_NAME: "x" }),
    );
    expect(c.requested.map(formatIP)).toEqual(["10.1.0.5", "10.1.0.7", "10.1.0.8"]);
  });

  test.each([
    [{ ipam: { type: "host-local" } }, 7, "ipam: no IP ranges specified (set ipam.ranges or ipam.subnet)"],
    [{ ipam: { type: "host-local", subnet: "10.1.0.0/24", ranges: [[{ subnet: "10.1.0.0/25" }]] } }, 7, "ipam.ranges[0]: range set 10.1.0.1-10.1.0.126 overlaps with ipam"],
    [{ ipam: { type: "host-local", ranges: [[{ subnet: "10.0.0.0/33" }]] } }, 7, 'ipam.ranges[0][0].subnet: must be a CIDR, got "10.0.0.0/33"'],
    [{ ipam: { type: "host-local", ranges: [[{ subnet: "10.0.0.0/24", foo: 1 }]] } }, 2, "ipam.ranges[0][0].foo: unsupported key (value 1)"],
    [{ ipam: { type: "host-local", subnet: "10.0.0.0/24", dataDir: "relative" } }, 7, 'ipam.dataDir: must be an absolute path without control characters, got "relative"'],
    [{ ipam: { type: "host-local", subnet: "10.0.0.0/24", dataDir: "/run/ipam\nx" } }, 7, 'ipam.dataDir: must be an absolute path without control characters, got "/run/ipam\\nx"'],
    [{ ipam: { type: "host-local", subnet: "10.0.0.0/24", dataDir: "/run/ipam\u0000x" } }, 7, 'ipam.dataDir: must be an absolute path without control characters, got "/run/ipam\\u0000x"'],
    [{ ipam: { type: "host-local", subnet: "10.0.0.0/24", resolvConf: "etc/resolv.conf" } }, 7, 'ipam.resolvConf: must be an absolute path without control characters, got "etc/resolv.conf"'],
    [{ ipam: { type: "host-local", subnet: "10.0.0.0/24", routes: [{ dst: "0.0.0.0/0", table: 2 ** 32 }] } }, 7, "ipam.routes[0].table: must be <= 4294967295, got 4294967296"],
    [{ ipam: { type: "host-local", subnet: "10.0.0.0/24" }, runtimeConfig: { ips: ["10.0.0.300"] } }, 7, 'runtimeConfig.ips[0]: must be an IP address, optionally with /prefix, got "10.0.0.300"'],
  ])("rejects %j", (raw, code, msg) => {
    expect(() => parseHostLocalConfig(raw, inv())).toThrow(expect.objectContaining({ code, message: msg }));
  });

  // The operator writes dataDir and resolvConf: what the reference host-local accepts is accepted.
  test.each(["/var/lib/../run/ipam", "/run/cni ipam/store", "/run/ipam/./x/", "/run/ïpam"])("accepts the operator's dataDir and resolvConf %j as the reference does", (path) => {
    const c = parseHostLocalConfig({ ipam: { type: "host-local", subnet: "10.0.0.0/24", dataDir: path, resolvConf: path } }, inv());
    expect(c.dataDir).toBe(path);
    expect(c.resolvConf).toBe(path);
  });

  test("rejects a bad CNI_ARGS IP", () => {
    expect(() => parseHostLocalConfig({ ipam: { type: "host-local", subnet: "10.0.0.0/24" } }, inv({ IP: "bogus" }))).toThrow(
      expect.objectContaining({ code: 7, message: 'CNI_ARGS IP: must be an IP address, got "bogus"' }),
    );
  });
});

test("parseResolvConf() reads nameservers, domain, search and options, skipping comments", () => {
  const text = "# c\nnameserver 10.0.0.10\n; x\nnameserver fd00::10\ndomain example.test\nsearch a.test b.test\noptions ndots:5 edns0\nbad\n";
  expect(parseResolvConf(text)).toEqual({
    nameservers: ["10.0.0.10", "fd00::10"],
    domain: "example.test",
    search: ["a.test", "b.test"],
    options: ["ndots:5", "edns0"],
  });
});
