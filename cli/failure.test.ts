import { failureLine, traceWanted } from "./failure";

test("failureLine() gives the message only, without the stack, unless PATCHCORD_TRACE is set", () => {
  const e = new RangeError("Maximum call stack size exceeded.");
  expect(failureLine("patchcord", e, {})).toBe("patchcord: Maximum call stack size exceeded.");
  expect(failureLine("patchcord", e, { PATCHCORD_TRACE: "0" })).toBe("patchcord: Maximum call stack size exceeded.");
  expect(failureLine("patchcord", e, { PATCHCORD_TRACE: "stderr" })).toMatch(/^patchcord: RangeError: Maximum call stack size exceeded\.\n\s+at /);
  expect(failureLine("patchcord", "a string", {})).toBe("patchcord: a string");
});

test("traceWanted() reads PATCHCORD_TRACE as the tracer does: unset, empty and 0 are off", () => {
  expect([undefined, "", "0"].map((v) => traceWanted({ PATCHCORD_TRACE: v }))).toEqual([false, false, false]);
  expect(["1", "stderr", "/tmp/t"].map((v) => traceWanted({ PATCHCORD_TRACE: v }))).toEqual([true, true, true]);
});
