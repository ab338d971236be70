import { convertResult, formatResult, parseResult, Result } from "./result";
import { SUPPORTED_VERSIONS, SpecVersion } from "./versions";

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

describe("formatResult()", () => {
  test("0.x adds ips[].version and drops the 1.x-only interface fields", () => {
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

  test("1.x has no ips[].version and keeps mtu, socketPath, pciID", () => {
    const out = formatResult(full, "1.1.0");
    expect(out.ips).toEqual(full.ips);
    expect(out.interfaces).toEqual(full.interfaces);
  });

  test("an empty dns is printed as {} for 0.x and omitted for 1.x", () => {
    expect(formatResult({ ips: full.ips }, "0.3.1").dns).toEqual({});
    expect("dns" in formatResult({ ips: full.ips }, "1.0.0")).toBe(false);
  });

  test("empty lists are omitted", () => {
    expect(formatResult({ interfaces: [], ips: [], routes: [] }, "1.0.0")).toEqual({ cniVersion: "1.0.0" });
  });
});

describe.each(SUPPORTED_VERSIONS)("converting from %s", (from) => {
  test.each(SUPPORTED_VERSIONS)("to %s keeps addresses, gateways, indexes, routes and dns", (to) => {
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

describe("parseResult()", () => {
  test("a result without cniVersion takes the fallback version", () => {
    expect(parseResult({ ips: [{ address: "10.0.0.2/24" }] }, "0.4.0").cniVersion).toBe("0.4.0");
  });

  test.each([
    [{ cniVersion: "1.0.0", ips: [{ address: "10.0.0.2" }] }, "ips[0].address"],
    [{ cniVersion: "0.4.0", ips: [{ version: "4", address: "fd00::2/64" }] }, "ips[0].version"],
    [{ cniVersion: "1.0.0", ips: {} }, "ips must be a list"],
    [{ cniVersion: "1.0.0", routes: [{ dst: "default" }] }, "routes[0].dst"],
    [{ cniVersion: "1.0.0", interfaces: [{ mac: "x" }] }, "interfaces[0].name"],
    [{ cniVersion: "1.0.0", ips: [{ address: "10.0.0.2/24", gateway: "nope" }] }, "ips[0].gateway"],
    ["not an object", "result must be an object"],
  ])("rejects %j with code 6", (raw, where) => {
    expect(() => parseResult(raw, "1.0.0")).toThrow(expect.objectContaining({ code: 6, message: expect.stringContaining(where) }));
  });

  test("refuses a result of a version we do not support (code 1)", () => {
    expect(() => parseResult({ cniVersion: "0.2.0", ip4: { ip: "10.0.0.2/24" } })).toThrow(expect.objectContaining({ code: 1 }));
  });
});
