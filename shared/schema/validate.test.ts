import { CniError } from "../cni/errors";
import { hostLocal } from "./generated/validators";
import { jsonPath, validateConfig } from "./validate";

const caught = (f: () => void): CniError => {
  try {
    f();
  } catch (e) {
    return e as CniError;
  }
  throw new Error("expected an error");
};

describe("validateConfig()", () => {
  test("names the JSON path and the expected form of a bad CIDR", () => {
    const e = caught(() => validateConfig(hostLocal, { ipam: { type: "host-local", ranges: [[{ subnet: "10.0.0.0/33" }]] } }));
    expect(e.code).toBe(7);
    expect(e.message).toBe('ipam.ranges[0][0].subnet: must be a CIDR, got "10.0.0.0/33"');
  });

  test("reports an unknown ipam key as code 2 with the key and its value", () => {
    const e = caught(() => validateConfig(hostLocal, { ipam: { type: "host-local", subnet: "10.0.0.0/24", rangez: 5 } }));
    expect(e.code).toBe(2);
    expect(e.message).toBe("ipam.rangez: unsupported key (value 5)");
  });

  test("reports a missing required key", () => {
    const e = caught(() => validateConfig(hostLocal, { name: "x" }));
    expect(e.code).toBe(7);
    expect(e.message).toBe("ipam: is required");
  });

  test("reports a wrong type with the value", () => {
    const e = caught(() => validateConfig(hostLocal, { ipam: { type: "host-local", routes: "0.0.0.0/0" } }));
    expect(e.message).toBe('ipam.routes: must be array, got "0.0.0.0/0"');
  });

  test("accepts a reference host-local config with unknown keys outside ipam", () => {
    expect(() =>
      validateConfig(hostLocal, { bridge: "cni0", isGateway: true, ipam: { type: "host-local", subnet: "10.1.0.0/16", routes: [{ dst: "0.0.0.0/0" }] } }),
    ).not.toThrow();
  });
});

test("jsonPath() turns a JSON pointer into dotted and indexed form", () => {
  expect(jsonPath("/ipam/ranges/0/1/gateway")).toBe("ipam.ranges[0][1].gateway");
  expect(jsonPath("", "ipam")).toBe("ipam");
  expect(jsonPath("/a~1b")).toBe("a/b");
});
