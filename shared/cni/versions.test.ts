import {
  atLeast,
  compareVersions,
  isSupportedVersion,
  negotiateVersion,
  NEWEST_VERSION,
  requireSupportedVersion,
  requireVerbAllowed,
  SpecVersion,
  SUPPORTED_VERSIONS,
  versionResponse,
} from "./versions";
import { caught } from "./test-helpers";


describe("compareVersions()", () => {
  test("compareVersions() orders numerically", () => {
    expect(compareVersions("0.10.0", "0.4.0")).toBeGreaterThan(0);
    expect(compareVersions("1.0.0", "1.0")).toBe(0);
    expect(compareVersions("0.3.1", "1.1.0")).toBeLessThan(0);
  });

  test("compareVersions() is zero for equal versions and antisymmetric", () => {
    expect(compareVersions("1.1.0", "1.1.0")).toBe(0);
    for (const [a, b] of [
      ["0.3.0", "0.3.1"],
      ["0.3.1", "0.4.0"],
      ["0.4.0", "1.0.0"],
      ["1.0.0", "1.1.0"],
      ["1.9.0", "1.10.0"],
    ]) {
      expect(compareVersions(a, b)).toBeLessThan(0);
      expect(compareVersions(b, a)).toBeGreaterThan(0);
    }
  });

  test("compareVersions() compares numbers, not strings (1.10.0 > 1.9.0)", () => {
    expect(compareVersions("1.10.0", "1.9.0")).toBeGreaterThan(0);
    expect(compareVersions("0.10.0", "0.9.9")).toBeGreaterThan(0);
  });

  test("compareVersions() sorts a shuffled list into spec order", () => {
    expect(["1.1.0", "0.3.1", "1.0.0", "0.3.0", "0.4.0"].sort(compareVersions)).toEqual([...SUPPORTED_VERSIONS]);
  });

  test("atLeast() is compareVersions() >= 0", () => {
    expect(atLeast("0.4.0", "0.4.0")).toBe(true);
    expect(atLeast("1.0.0", "0.4.0")).toBe(true);
    expect(atLeast("0.3.1", "0.4.0")).toBe(false);
  });
});

describe("supported versions", () => {
  test("SUPPORTED_VERSIONS lists 0.3.0 to 1.1.0 oldest first and NEWEST_VERSION is 1.1.0", () => {
    expect([...SUPPORTED_VERSIONS]).toEqual(["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]);
    expect(NEWEST_VERSION).toBe("1.1.0");
  });

  test("isSupportedVersion() is exact string equality with the list", () => {
    for (const v of SUPPORTED_VERSIONS) expect(isSupportedVersion(v)).toBe(true);
    for (const v of ["0.1.0", "0.2.0", "1.0", "1.0.0 ", "v1.0.0", "", "2.0.0", 1, null, undefined]) expect(isSupportedVersion(v)).toBe(false);
  });

  test("versionResponse() lists every supported version", () => {
    expect(JSON.parse(versionResponse())).toEqual({ cniVersion: "1.1.0", supportedVersions: ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] });
  });
});

describe("requireSupportedVersion()", () => {
  test.each([["0.3.0"], ["0.3.1"], ["0.4.0"], ["1.0.0"], ["1.1.0"]])("requireSupportedVersion() accepts %s", (v) => {
    expect(requireSupportedVersion(v)).toBe(v);
  });

  test.each([["0.1.0"], ["0.2.0"], [undefined], ["2.0.0"], [1], ["1.1"], [null], [""], [1.1], [{}], [["1.0.0"]], ["1.0.0 "], ["v1.0.0"]])(
    "requireSupportedVersion() refuses %j with code 1",
    (v) => {
      expect(() => requireSupportedVersion(v)).toThrow(expect.objectContaining({ code: 1, message: "incompatible CNI versions" }));
    },
  );

  test("requireSupportedVersion() names the config's version and ours in details", () => {
    const e = caught(() => requireSupportedVersion("0.2.0"));
    expect(e.details).toBe('config is "0.2.0", plugin supports ["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]');
  });

  test("requireSupportedVersion() explains that a missing version means 0.1.0", () => {
    const e = caught(() => requireSupportedVersion(undefined));
    expect(e.code).toBe(1);
    expect(e.details).toContain("0.1.0");
  });
});

describe("requireVerbAllowed()", () => {
  test("requireVerbAllowed() gates CHECK at 0.4.0 and GC/STATUS at 1.1.0", () => {
    expect(() => requireVerbAllowed("CHECK", "0.3.1")).toThrow(expect.objectContaining({ code: 1, message: "config version does not allow CHECK" }));
    expect(() => requireVerbAllowed("CHECK", "0.4.0")).not.toThrow();
    expect(() => requireVerbAllowed("GC", "1.0.0")).toThrow(expect.objectContaining({ code: 1 }));
    expect(() => requireVerbAllowed("STATUS", "1.0.0")).toThrow(expect.objectContaining({ code: 1 }));
    expect(() => requireVerbAllowed("STATUS", "1.1.0")).not.toThrow();
    expect(() => requireVerbAllowed("ADD", "0.3.0")).not.toThrow();
  });

  const allowed: Record<string, SpecVersion[]> = {
    ADD: ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
    DEL: ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
    CHECK: ["0.4.0", "1.0.0", "1.1.0"],
    GC: ["1.1.0"],
    STATUS: ["1.1.0"],
  };
  const matrix = Object.entries(allowed).flatMap(([verb, ok]) => SUPPORTED_VERSIONS.map((v) => [verb, v, ok.includes(v)] as const));

  test.each(matrix)("requireVerbAllowed() for %s under %s allows it: %s", (verb, v, ok) => {
    if (ok) {
      expect(() => requireVerbAllowed(verb, v)).not.toThrow();
    } else {
      const e = caught(() => requireVerbAllowed(verb, v));
      expect(e.code).toBe(1);
      expect(e.message).toBe(`config version does not allow ${verb}`);
      expect(e.details).toContain(`"${v}"`);
    }
  });
});

describe("negotiateVersion()", () => {
  test("negotiateVersion() takes the highest version both sides know", () => {
    expect(negotiateVersion({ cniVersion: "0.4.0", cniVersions: ["1.0.0", "1.1.0", "2.0.0"] })).toBe("1.1.0");
    expect(negotiateVersion({ cniVersion: "1.0.0" })).toBe("1.0.0");
    expect(negotiateVersion({ cniVersion: "0.2.0", cniVersions: ["0.1.0"] })).toBeUndefined();
    expect(negotiateVersion({ cniVersions: ["0.3.1", "1.0.0"] }, ["0.3.1"])).toBe("0.3.1");
  });

  test("negotiateVersion() takes cniVersion when it is higher than every entry of cniVersions", () => {
    expect(negotiateVersion({ cniVersion: "1.1.0", cniVersions: ["0.3.1", "0.4.0"] })).toBe("1.1.0");
  });

  test("negotiateVersion() does not depend on the order of cniVersions", () => {
    expect(negotiateVersion({ cniVersions: ["1.0.0", "0.3.0", "1.1.0", "0.4.0"] })).toBe("1.1.0");
    expect(negotiateVersion({ cniVersions: ["1.1.0", "1.0.0"] })).toBe("1.1.0");
  });

  test("negotiateVersion() uses cniVersions when cniVersion is unsupported or absent", () => {
    expect(negotiateVersion({ cniVersion: "0.2.0", cniVersions: ["0.4.0"] })).toBe("0.4.0");
    expect(negotiateVersion({ cniVersions: ["0.3.1"] })).toBe("0.3.1");
  });

  test("negotiateVersion() returns undefined when nothing is in common", () => {
    expect(negotiateVersion({})).toBeUndefined();
    expect(negotiateVersion({ cniVersion: "2.0.0", cniVersions: ["3.0.0"] })).toBeUndefined();
    expect(negotiateVersion({ cniVersions: [] })).toBeUndefined();
    expect(negotiateVersion({ cniVersion: "1.1.0" }, [])).toBeUndefined();
  });

  test("negotiateVersion() ignores non-string entries and a non-list cniVersions", () => {
    expect(negotiateVersion({ cniVersion: 1.1, cniVersions: [1, null, {}, "0.4.0"] })).toBe("0.4.0");
    expect(negotiateVersion({ cniVersion: "0.3.1", cniVersions: "1.1.0" })).toBe("0.3.1");
  });

  test("negotiateVersion() honours a narrower supported list (e.g. a plugin's VERSION answer)", () => {
    expect(negotiateVersion({ cniVersion: "1.1.0", cniVersions: ["0.4.0", "1.0.0"] }, ["0.3.1", "0.4.0", "1.0.0"])).toBe("1.0.0");
  });
});
