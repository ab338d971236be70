import { convertResult, formatResult, parseResult, Result } from "./result";
import { SUPPORTED_VERSIONS, SpecVersion } from "./versions";
import { caught } from "./test-helpers";

const full: Omit<Result, "cniVersion"> = {
  interfaces: [
    { name: "cni0", mac: "02:00:00:00:00:01" },
    { name: "eth0", mac: "02:00:00:00:00:02", mtu: 1400, sandbox: "/run/netns/x", socketPath: "/s", pciID: "0000:01:00.0" },
  ],
  ips: [
    { address: "10.1.0.5/24", gateway: "10.1.0.1", interface: 1 },
    { address: "fd00::5/64", interface: 1 },
  ],
  routes: [{ dst: "0.0.0.0/0", gw: "10.1.0.1" }, { dst: "::/0" }],
  dns: { nameservers: ["10.1.0.10"], search: ["svc.local"] },
};
const legacy = (v: string) => v.startsWith("0.");


/**
 * The same result as a plugin of version `v` prints it (written out by hand from the spec's
 * per-version shapes). `richInterfaces` false: the 1.x-only interface fields are not there.
 */
function wire(v: SpecVersion, richInterfaces = !legacy(v)): Record<string, unknown> {
  const old = legacy(v);
  return {
    cniVersion: v,
    interfaces: [
      { name: "br0", mac: "0a:58:0a:01:00:01" },
      { name: "veth12ab", mac: "16:aa:bb:cc:dd:ee" },
      richInterfaces
        ? { name: "eth0", mac: "0a:58:0a:01:00:05", mtu: 1450, sandbox: "/var/run/netns/pod1", socketPath: "/run/vhost.sock", pciID: "0000:04:00.5" }
        : { name: "eth0", mac: "0a:58:0a:01:00:05", sandbox: "/var/run/netns/pod1" },
    ],
    ips: [
      { ...(old ? { version: "4" } : {}), address: "10.1.0.5/24", gateway: "10.1.0.1", interface: 2 },
      { ...(old ? { version: "6" } : {}), address: "2001:db8::5/64", gateway: "2001:db8::1", interface: 2 },
      { ...(old ? { version: "4" } : {}), address: "192.168.7.7/32", interface: 0 },
    ],
    routes: [
      { dst: "0.0.0.0/0", gw: "10.1.0.1" },
      { dst: "::/0", gw: "2001:db8::1" },
      { dst: "192.168.0.0/16", gw: "10.1.0.254", mtu: 1400, advmss: 1360, priority: 10, table: 100, scope: 0 },
      { dst: "10.2.0.0/16" },
    ],
    dns: { nameservers: ["10.1.0.1", "2001:db8::53"], domain: "cluster.local", search: ["default.svc.cluster.local", "svc.cluster.local"], options: ["ndots:5"] },
  };
}

const pairs = SUPPORTED_VERSIONS.flatMap((from) => SUPPORTED_VERSIONS.map((to) => [from, to] as [SpecVersion, SpecVersion]));

describe("formatResult()", () => {
  test("formatResult() for 0.x adds ips[].version and drops the 1.x-only interface fields", () => {
    const out = formatResult(full, "0.4.0");
    expect(out.ips).toEqual([
      { version: "4", address: "10.1.0.5/24", gateway: "10.1.0.1", interface: 1 },
      { version: "6", address: "fd00::5/64", interface: 1 },
    ]);
    expect(out.interfaces).toEqual([
      { name: "cni0", mac: "02:00:00:00:00:01" },
      { name: "eth0", mac: "02:00:00:00:00:02", sandbox: "/run/netns/x" },
    ]);
  });

  test("formatResult() for 1.x has no ips[].version and keeps mtu, socketPath, pciID", () => {
    const out = formatResult(full, "1.1.0");
    expect(out.ips).toEqual(full.ips);
    expect(out.interfaces).toEqual(full.interfaces);
  });

  test("formatResult() prints an empty dns as {} for 0.x and omits it for 1.x", () => {
    expect(formatResult({ ips: full.ips }, "0.3.1").dns).toEqual({});
    expect("dns" in formatResult({ ips: full.ips }, "1.0.0")).toBe(false);
  });

  test.each([...SUPPORTED_VERSIONS])("formatResult() for %s treats dns with only empty fields as empty", (v) => {
    const out = formatResult({ dns: { nameservers: [], search: [], options: [], domain: "" } }, v);
    if (legacy(v)) expect(out.dns).toEqual({});
    else expect("dns" in out).toBe(false);
  });

  test.each([...SUPPORTED_VERSIONS])("formatResult() for %s prints a dns with only a domain", (v) => {
    expect(formatResult({ dns: { domain: "example.org" } }, v).dns).toEqual({ domain: "example.org" });
  });

  test("formatResult() omits empty lists", () => {
    expect(formatResult({ interfaces: [], ips: [], routes: [] }, "1.0.0")).toEqual({ cniVersion: "1.0.0" });
    expect(formatResult({}, "1.1.0")).toEqual({ cniVersion: "1.1.0" });
    expect(formatResult({}, "0.4.0")).toEqual({ cniVersion: "0.4.0", dns: {} });
  });

  test("formatResult() keeps interface index 0, route table 0 and scope 0", () => {
    const out = formatResult({ ips: [{ address: "10.0.0.2/24", interface: 0 }], routes: [{ dst: "10.0.0.0/8", table: 0, scope: 0 }] }, "1.0.0");
    expect(out.ips).toEqual([{ address: "10.0.0.2/24", interface: 0 }]);
    expect(out.routes).toEqual([{ dst: "10.0.0.0/8", table: 0, scope: 0 }]);
  });

  test("formatResult() leaves out unset optional fields instead of printing undefined or null", () => {
    const out = formatResult({ interfaces: [{ name: "eth0", mac: undefined }], ips: [{ address: "10.0.0.2/24", gateway: undefined }] }, "0.4.0");
    expect(JSON.stringify(out)).toBe('{"cniVersion":"0.4.0","interfaces":[{"name":"eth0"}],"ips":[{"version":"4","address":"10.0.0.2/24"}],"dns":{}}');
  });

  test("formatResult() does not modify the result it is given", () => {
    const copy = JSON.parse(JSON.stringify(full));
    formatResult(full, "0.3.0");
    formatResult(full, "1.1.0");
    expect(full).toEqual(copy);
  });

  test.each(pairs)("formatResult() of a %s result parsed and converted to %s is that version's exact shape", (from, to) => {
    const out = formatResult(convertResult(parseResult(wire(from)), to), to);
    // Interface fields that a 0.x step drops are gone for good.
    expect(out).toEqual(wire(to, !legacy(from) && !legacy(to)));
  });
});

describe("convertResult()", () => {
  describe.each([...SUPPORTED_VERSIONS])("converting from %s", (from) => {
    test.each([...SUPPORTED_VERSIONS])("convertResult() to %s keeps addresses, gateways, indexes, routes and dns", (to) => {
      const start = parseResult(formatResult(full, from as SpecVersion));
      const converted = convertResult(start, to as SpecVersion);
      expect(converted.cniVersion).toBe(to);
      expect(converted.ips).toEqual(full.ips);
      expect(converted.routes).toEqual(full.routes);
      expect(converted.dns).toEqual(full.dns);
      const out = formatResult(converted, to as SpecVersion);
      expect((out.ips as { version?: string }[]).every((i) => (legacy(to) ? i.version !== undefined : i.version === undefined))).toBe(true);
      // mtu, socketPath and pciID survive only while no 0.x version is on the way.
      const eth0 = converted.interfaces![1];
      expect(eth0.mtu === 1400).toBe(!legacy(from) && !legacy(to));
    });
  });

  test("convertResult() from 1.x to 0.x adds version 4 or 6 by the address family", () => {
    const r = parseResult(wire("1.1.0"));
    const ips = formatResult(convertResult(r, "0.3.1"), "0.3.1").ips as Record<string, unknown>[];
    expect(ips.map((i) => i.version)).toEqual(["4", "6", "4"]);
  });

  test("convertResult() from 1.x to 0.x drops mtu, socketPath and pciID from interfaces", () => {
    const r = convertResult(parseResult(wire("1.0.0")), "0.4.0");
    expect(r.interfaces![2]).toEqual({ name: "eth0", mac: "0a:58:0a:01:00:05", sandbox: "/var/run/netns/pod1" });
  });

  test("convertResult() from 0.x to 1.x drops ips[].version", () => {
    const out = formatResult(convertResult(parseResult(wire("0.4.0")), "1.0.0"), "1.0.0");
    for (const i of out.ips as Record<string, unknown>[]) expect("version" in i).toBe(false);
  });

  test("convertResult() keeps the route extras (mtu, advmss, priority, table, scope) in 0.x too", () => {
    const r = convertResult(parseResult(wire("1.1.0")), "0.3.0");
    expect(r.routes![2]).toEqual({ dst: "192.168.0.0/16", gw: "10.1.0.254", mtu: 1400, advmss: 1360, priority: 10, table: 100, scope: 0 });
  });

  test("convertResult() between 1.0.0 and 1.1.0 changes only the label", () => {
    const r = parseResult(wire("1.0.0"));
    const { cniVersion, ...rest } = convertResult(r, "1.1.0");
    const { cniVersion: _old, ...before } = r;
    expect(cniVersion).toBe("1.1.0");
    expect(rest).toEqual(before);
  });

  test("convertResult() between 0.3.0, 0.3.1 and 0.4.0 changes only the label", () => {
    const r = parseResult(wire("0.3.0"));
    for (const to of ["0.3.1", "0.4.0"] as const) {
      const { cniVersion, ...rest } = convertResult(r, to);
      const { cniVersion: _old, ...before } = r;
      expect(cniVersion).toBe(to);
      expect(rest).toEqual(before);
    }
  });
});

describe("parseResult()", () => {
  test("parseResult() reads a 1.x result into the in-memory shape", () => {
    const r = parseResult(wire("1.1.0"));
    expect(r.cniVersion).toBe("1.1.0");
    expect(r.interfaces).toHaveLength(3);
    expect(r.ips![0]).toEqual({ address: "10.1.0.5/24", gateway: "10.1.0.1", interface: 2 });
    expect(r.ips![2]).toEqual({ address: "192.168.7.7/32", interface: 0 });
  });

  test("parseResult() of a 0.x result keeps no version in memory", () => {
    const r = parseResult(wire("0.4.0"));
    expect(r.ips![1]).toEqual({ address: "2001:db8::5/64", gateway: "2001:db8::1", interface: 2 });
  });

  test("parseResult() of a 0.x IP without version derives it when printed", () => {
    const r = parseResult({ cniVersion: "0.3.1", ips: [{ address: "fd00::2/64" }] });
    expect(formatResult(r, "0.3.1").ips).toEqual([{ version: "6", address: "fd00::2/64" }]);
  });

  test("parseResult() of a 1.x result ignores a stray ips[].version", () => {
    expect(parseResult({ cniVersion: "1.0.0", ips: [{ version: "4", address: "fd00::2/64" }] }).ips).toEqual([{ address: "fd00::2/64" }]);
  });

  test("parseResult() drops empty lists and a null dns", () => {
    expect(parseResult({ cniVersion: "1.0.0", interfaces: [], ips: null, routes: [], dns: null })).toEqual({ cniVersion: "1.0.0" });
  });

  test("parseResult() takes the fallback version for a result without cniVersion", () => {
    expect(parseResult({ ips: [{ address: "10.0.0.2/24" }] }, "0.4.0").cniVersion).toBe("0.4.0");
    const r = parseResult({ ips: [{ version: "4", address: "10.0.0.2/24" }] }, "0.3.1");
    expect(r).toEqual({ cniVersion: "0.3.1", ips: [{ address: "10.0.0.2/24" }] });
  });

  test("parseResult() prefers the result's own cniVersion over the fallback", () => {
    expect(parseResult({ cniVersion: "1.0.0" }, "0.4.0").cniVersion).toBe("1.0.0");
  });

  test("parseResult() without cniVersion and without fallback is 0.1.0, which we refuse (code 1)", () => {
    expect(caught(() => parseResult({ ips: [] })).code).toBe(1);
  });

  // libcni (pkg/invoke/exec.go fixupResultVersion) and Go plugins (version.ParsePrevResult) treat an
  // empty cniVersion exactly like a missing one: the config's version is assumed.
  test('parseResult() takes the fallback version for a result whose cniVersion is ""', () => {
    expect(parseResult({ cniVersion: "", ips: [{ address: "10.0.0.2/24" }] }, "1.0.0").cniVersion).toBe("1.0.0");
  });

  test("parseResult() refuses a result of a version we do not support (code 1)", () => {
    expect(() => parseResult({ cniVersion: "0.2.0", ip4: { ip: "10.0.0.2/24" } })).toThrow(expect.objectContaining({ code: 1 }));
    expect(() => parseResult({ cniVersion: "9.9.9" }, "1.0.0")).toThrow(expect.objectContaining({ code: 1 }));
  });

  test.each([
    [{ cniVersion: "1.0.0", ips: [{ address: "10.0.0.2" }] }, "ips[0].address"],
    [{ cniVersion: "0.4.0", ips: [{ version: "4", address: "fd00::2/64" }] }, "ips[0].version"],
    [{ cniVersion: "1.0.0", ips: {} }, "ips must be a list"],
    [{ cniVersion: "1.0.0", routes: [{ dst: "default" }] }, "routes[0].dst"],
    [{ cniVersion: "1.0.0", interfaces: [{ mac: "x" }] }, "interfaces[0].name"],
    [{ cniVersion: "1.0.0", ips: [{ address: "10.0.0.2/24", gateway: "nope" }] }, "ips[0].gateway"],
    ["not an object", "result must be an object"],
  ])("parseResult() rejects %j with code 6", (raw, where) => {
    expect(() => parseResult(raw, "1.0.0")).toThrow(expect.objectContaining({ code: 6, message: expect.stringContaining(where) }));
  });

  test.each([
    ["a bad address", { cniVersion: "1.0.0", ips: [{ address: "10.0.0.300/24" }] }],
    ["an address with a bad prefix length", { cniVersion: "1.0.0", ips: [{ address: "10.0.0.3/33" }] }],
    ["an address that is not a string", { cniVersion: "1.0.0", ips: [{ address: 167772162 }] }],
    ["an IP without address", { cniVersion: "1.0.0", ips: [{ gateway: "10.0.0.1" }] }],
    ['version "4" with an IPv6 address', { cniVersion: "0.3.1", ips: [{ version: "4", address: "2001:db8::5/64" }] }],
    ['version "6" with an IPv4 address', { cniVersion: "0.3.0", ips: [{ version: "6", address: "10.0.0.5/24" }] }],
    ["a numeric version", { cniVersion: "0.4.0", ips: [{ version: 4, address: "10.0.0.5/24" }] }],
    ["ips as a string", { cniVersion: "1.0.0", ips: "10.0.0.1/24" }],
    ["ips as an object", { cniVersion: "1.0.0", ips: { address: "10.0.0.1/24" } }],
    ["ips holding a string", { cniVersion: "1.0.0", ips: ["10.0.0.1/24"] }],
    ["interfaces as an object", { cniVersion: "1.0.0", interfaces: { name: "eth0" } }],
    ["an interface with an empty name", { cniVersion: "1.0.0", interfaces: [{ name: "" }] }],
    ["an interface with a numeric mtu string", { cniVersion: "1.0.0", interfaces: [{ name: "eth0", mtu: "1500" }] }],
    ["a negative interface index", { cniVersion: "1.0.0", ips: [{ address: "10.0.0.1/24", interface: -1 }] }],
    ["a fractional interface index", { cniVersion: "1.0.0", ips: [{ address: "10.0.0.1/24", interface: 0.5 }] }],
    ["a route without dst", { cniVersion: "1.0.0", routes: [{ gw: "10.0.0.1" }] }],
    ["a route dst with extra words", { cniVersion: "1.0.0", routes: [{ dst: "10.0.0.0/8 dev eth0" }] }],
    ["a bad route gateway", { cniVersion: "1.0.0", routes: [{ dst: "10.0.0.0/8", gw: "10.0.0.256" }] }],
    ["dns as a list", { cniVersion: "1.0.0", dns: ["10.0.0.10"] }],
    ["dns nameservers as a string", { cniVersion: "1.0.0", dns: { nameservers: "10.0.0.10" } }],
    ["dns domain as a number", { cniVersion: "1.0.0", dns: { domain: 5 } }],
    ["an interface mtu of 1e308", { cniVersion: "1.0.0", interfaces: [{ name: "eth0", mtu: 1e308 }] }],
    ["an interface index of 2^64", { cniVersion: "1.0.0", ips: [{ address: "10.0.0.1/24", interface: 2 ** 64 }] }],
    ["a route table of 2^32 (the kernel's is 32 bits)", { cniVersion: "1.0.0", routes: [{ dst: "10.0.0.0/8", table: 2 ** 32 }] }],
    ["a route scope of 256 (the kernel's is 8 bits)", { cniVersion: "1.0.0", routes: [{ dst: "10.0.0.0/8", scope: 256 }] }],
    ["a route priority of Infinity (1e400)", { cniVersion: "1.0.0", routes: [{ dst: "10.0.0.0/8", priority: Infinity }] }],
  ])("parseResult() rejects %s with CniError code 6", (_what, raw) => {
    const e = caught(() => parseResult(raw));
    expect(e.code).toBe(6);
    expect(e.message).toMatch(/^cannot parse result: /);
  });

  test.each([null, [], 42, "{}", undefined])("parseResult() rejects the non-object %j with code 6", (raw) => {
    expect(caught(() => parseResult(raw, "1.0.0")).code).toBe(6);
  });

  test("parseResult() accepts the largest 32-bit route values and -0", () => {
    const r = parseResult({ cniVersion: "1.0.0", routes: [{ dst: "10.0.0.0/8", table: 0xffffffff, priority: 0xffffffff, mtu: -0, scope: 255 }] });
    expect(r.routes![0]).toMatchObject({ table: 0xffffffff, priority: 0xffffffff, scope: 255 });
  });

  test("parseResult() names the offending value in the message", () => {
    expect(caught(() => parseResult({ cniVersion: "1.0.0", ips: [{ address: "10.0.0.300/24" }] })).message).toBe(
      'cannot parse result: ips[0].address must be an address with prefix, got "10.0.0.300/24"',
    );
    expect(caught(() => parseResult({ cniVersion: "0.4.0", ips: [{ version: "4", address: "2001:db8::5/64" }] })).message).toBe(
      'cannot parse result: ips[0].version is "4" but the address is IPv6',
    );
  });
});
