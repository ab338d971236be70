import { CniError, toCniError } from "./errors";

test("CniError.toJSON() is the spec's error shape, details only when set", () => {
  expect(new CniError(7, "bad", "why").toJSON("1.0.0")).toEqual({ cniVersion: "1.0.0", code: 7, msg: "bad", details: "why" });
  expect(new CniError(4, "env").toJSON("0.4.0")).toEqual({ cniVersion: "0.4.0", code: 4, msg: "env" });
});

test("toCniError() keeps CniErrors and wraps anything else as code 999", () => {
  const typed = new CniError(2, "x");
  expect(toCniError(typed)).toBe(typed);
  expect(toCniError(new TypeError("boom"))).toMatchObject({ code: 999, message: "boom" });
  expect(toCniError("text")).toMatchObject({ code: 999, message: "text" });
});
