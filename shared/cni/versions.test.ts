import { compareVersions, negotiateVersion, requireSupportedVersion, requireVerbAllowed, versionResponse } from "./versions";

test("compareVersions() orders numerically", () => {
  expect(compareVersions("0.10.0", "0.4.0")).toBeGreaterThan(0);
  expect(compareVersions("1.0.0", "1.0")).toBe(0);
  expect(compareVersions("0.3.1", "1.1.0")).toBeLessThan(0);
});

test.each([["0.3.0"], ["0.3.1"], ["0.4.0"], ["1.0.0"], ["1.1.0"]])("requireSupportedVersion() accepts %s", (v) => {
  expect(requireSupportedVersion(v)).toBe(v);
});

test.each([["0.1.0"], ["0.2.0"], [undefined], ["2.0.0"], [1], ["1.1"]])("requireSupportedVersion() refuses %j with code 1", (v) => {
  expect(() => requireSupportedVersion(v)).toThrow(expect.objectContaining({ code: 1, message: "incompatible CNI versions" }));
});

test("requireVerbAllowed() gates CHECK at 0.4.0 and GC/STATUS at 1.1.0", () => {
  expect(() => requireVerbAllowed("CHECK", "0.3.1")).toThrow(expect.objectContaining({ code: 1, message: "config version does not allow CHECK" }));
  expect(() => requireVerbAllowed("CHECK", "0.4.0")).not.toThrow();
  expect(() => requireVerbAllowed("GC", "1.0.0")).toThrow(expect.objectContaining({ code: 1 }));
  expect(() => requireVerbAllowed("STATUS", "1.0.0")).toThrow(expect.objectContaining({ code: 1 }));
  expect(() => requireVerbAllowed("STATUS", "1.1.0")).not.toThrow();
  expect(() => requireVerbAllowed("ADD", "0.3.0")).not.toThrow();
});

test("negotiateVersion() takes the highest version both sides know", () => {
  expect(negotiateVersion({ cniVersion: "0.4.0", cniVersions: ["1.0.0", "1.1.0", "2.0.0"] })).toBe("1.1.0");
  expect(negotiateVersion({ cniVersion: "1.0.0" })).toBe("1.0.0");
  expect(negotiateVersion({ cniVersion: "0.2.0", cniVersions: ["0.1.0"] })).toBeUndefined();
  expect(negotiateVersion({ cniVersions: ["0.3.1", "1.0.0"] }, ["0.3.1"])).toBe("0.3.1");
});

test("versionResponse() lists every supported version", () => {
  expect(JSON.parse(versionResponse())).toEqual({ cniVersion: "1.1.0", supportedVersions: ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] });
});
