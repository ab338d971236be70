import { CniError, ErrorCode, isCniError, MAX_MESSAGE, toCniError } from "./errors";

describe("CniError", () => {
  test("CniError.toJSON() is the spec's error shape, details only when set", () => {
    expect(new CniError(7, "bad", "why").toJSON("1.0.0")).toEqual({ cniVersion: "1.0.0", code: 7, msg: "bad", details: "why" });
    expect(new CniError(4, "env").toJSON("0.4.0")).toEqual({ cniVersion: "0.4.0", code: 4, msg: "env" });
  });

  test("CniError.toJSON() omits empty details", () => {
    const json = new CniError(6, "cannot decode", "").toJSON("1.1.0");
    expect(json).toEqual({ cniVersion: "1.1.0", code: 6, msg: "cannot decode" });
    expect(Object.keys(json)).not.toContain("details");
  });

  test("CniError.toJSON() uses exactly the keys cniVersion, code, msg and details", () => {
    const json = new CniError(2, "unsupported key foo (value 1)", "see docs").toJSON("0.3.1");
    expect(Object.keys(json).sort()).toEqual(["cniVersion", "code", "details", "msg"]);
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
  });

  test("CniError.toJSON() labels the error with the version it is given", () => {
    const e = new CniError(1, "incompatible CNI versions");
    expect(e.toJSON("0.3.0").cniVersion).toBe("0.3.0");
    expect(e.toJSON("1.1.0").cniVersion).toBe("1.1.0");
  });

  test("CniError is an Error with its code, message, details and name", () => {
    const e = new CniError(ErrorCode.InvalidNetworkConfig, "bad subnet", "10.0.0.0/33");
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe(7);
    expect(e.message).toBe("bad subnet");
    expect(e.details).toBe("10.0.0.0/33");
    expect(e.name).toBe("CniError");
    expect(String(e)).toBe("CniError: bad subnet");
  });

  test("ErrorCode has the spec's well-known values", () => {
    expect(ErrorCode).toMatchObject({
      IncompatibleVersion: 1,
      UnsupportedField: 2,
      UnknownContainer: 3,
      InvalidEnvironment: 4,
      IoFailure: 5,
      DecodingFailure: 6,
      InvalidNetworkConfig: 7,
      TryAgainLater: 11,
      PluginNotAvailable: 50,
      LimitedConnectivity: 51,
      Internal: 999,
    });
  });

  test("ErrorCode plugin-specific codes are 100 or more", () => {
    for (const [name, code] of Object.entries(ErrorCode)) {
      if (["AddressesExhausted", "AddressUnavailable", "CheckFailed", "KernelOperationFailed", "DelegateFailed"].includes(name)) {
        expect(code).toBeGreaterThanOrEqual(100);
      }
    }
  });
});

describe("toCniError()", () => {
  test("toCniError() keeps CniErrors and wraps anything else as code 999", () => {
    const typed = new CniError(2, "x");
    expect(toCniError(typed)).toBe(typed);
    expect(toCniError(new TypeError("boom"))).toMatchObject({ code: 999, message: "boom" });
    expect(toCniError("text")).toMatchObject({ code: 999, message: "text" });
  });

  test("toCniError() wraps a plain Error as 999 keeping the message and adding no details", () => {
    const e = toCniError(new Error("EACCES: permission denied, open '/var/lib/cni/x'"));
    expect(e).toBeInstanceOf(CniError);
    expect(e.code).toBe(999);
    expect(e.message).toBe("EACCES: permission denied, open '/var/lib/cni/x'");
    expect(e.toJSON("1.0.0")).toEqual({ cniVersion: "1.0.0", code: 999, msg: "EACCES: permission denied, open '/var/lib/cni/x'" });
  });

  test("toCniError() does not leak the stack trace into the message", () => {
    const e = toCniError(new RangeError("out of range"));
    expect(e.message).toBe("out of range");
    expect(JSON.stringify(e.toJSON("1.1.0"))).not.toMatch(/\bat\s/);
  });

  test("toCniError() turns non-Error values into their string form", () => {
    expect(toCniError(42)).toMatchObject({ code: 999, message: "42" });
    expect(toCniError(undefined)).toMatchObject({ code: 999, message: "undefined" });
    expect(toCniError(null)).toMatchObject({ code: 999, message: "null" });
  });

  test("toCniError() keeps a subclass of CniError as it is", () => {
    class Special extends CniError {}
    const s = new Special(103, "kernel", "details");
    expect(toCniError(s)).toBe(s);
  });

  test("isCniError() tells CniErrors from other errors", () => {
    expect(isCniError(new CniError(1, "x"))).toBe(true);
    expect(isCniError(new Error("x"))).toBe(false);
    expect(isCniError({ code: 1, message: "x" })).toBe(false);
  });
});

test("toJSON() caps msg and details, so that a message quoting a 10 MB input stays small", () => {
  const e = new CniError(7, "m".repeat(MAX_MESSAGE + 10), "d".repeat(MAX_MESSAGE + 1));
  const j = e.toJSON("1.0.0") as { msg: string; details: string };
  expect(j.msg).toBe("m".repeat(MAX_MESSAGE) + "... (10 more characters)");
  expect(j.details).toBe("d".repeat(MAX_MESSAGE) + "... (1 more characters)");
});
