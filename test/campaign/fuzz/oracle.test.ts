import { judge } from "./oracle";
import { diffSnapshots } from "./snapshot";

// The fuzzer's oracle must be able to fail: each answer a plugin must never give is caught.
const outcome = (code: number, stdout: string, stderr = "") => ({ code, stdout, stderr, ms: 5, timedOut: false });
const error = (code: unknown, msg = "what is wrong") => JSON.stringify({ cniVersion: "1.0.0", code, msg });
const config = { cniVersion: "1.0.0", name: "n" };

test("a spec error with the expected code passes; each wrong answer is named", () => {
  expect(judge("bridge", "ADD", { codes: [7] }, config, outcome(1, error(7))).problems).toEqual([]);
  const problems = (o: ReturnType<typeof outcome>, e: Parameters<typeof judge>[2] = { any: true }) => judge("bridge", "ADD", e, config, o).problems.join("\n");
  expect(problems(outcome(1, error(999, "Maximum call stack size exceeded")))).toMatch(/code 999/);
  expect(problems(outcome(1, error(7), "RangeError: Maximum call stack size exceeded\n    at parse (a.ts:1:2)"))).toMatch(/stack trace/);
  expect(problems(outcome(1, "not json"))).toMatch(/without an error JSON/);
  expect(problems(outcome(1, error("7")))).toMatch(/not an integer/);
  expect(problems(outcome(1, error(42)))).toMatch(/neither the spec's nor documented/);
  expect(problems(outcome(1, error(7)), { codes: [6] })).toMatch(/expected code 6, got code 7/);
  expect(problems(outcome(0, JSON.stringify({ cniVersion: "0.4.0", ips: [] })))).toMatch(/not the config's/);
  expect(problems({ ...outcome(137, ""), timedOut: true })).toMatch(/time bound/);
  expect(judge("bridge", "DEL", { ok: true }, config, outcome(0, "{}")).problems.join()).toMatch(/exit 0 with output/);
  expect(judge("ipvlan", "ADD", { valid: true }, config, outcome(0, JSON.stringify({ cniVersion: "1.0.0" }))).problems.join()).toMatch(/no ipvlan module/);
});

test("a snapshot difference names the lines that came and went", () => {
  const s = { node: ["link a"], pod: [], netfilter: [], store: ["file /n/10.0.0.2"] };
  expect(diffSnapshots(s, s)).toEqual([]);
  expect(diffSnapshots(s, { ...s, store: [], pod: ["link eth0"] })).toEqual(["pod: + link eth0", "store: - file /n/10.0.0.2"]);
});
