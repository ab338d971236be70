import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentStatePath, readAgentState, removeAgentState, writeAgentState } from "./state-file";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "pc-agent-state-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const state = { node: "n1", podCIDRs: ["10.244.0.0/24"], routes: [{ node: "n2", dst: "10.244.1.0/24", via: "172.18.0.3" }] };

test("written once per change, read back as written", () => {
  const log: string[] = [];
  expect(writeAgentState(dir, state, (l) => log.push(l))).toBe(true);
  expect(writeAgentState(dir, state, (l) => log.push(l))).toBe(false);
  expect(readAgentState(agentStatePath(dir))).toEqual({ state });
  expect(writeAgentState(dir, { ...state, routes: [] }, () => {})).toBe(true);
  expect(readAgentState(agentStatePath(dir)).state?.routes).toEqual([]);
  expect(readdirSync(dir)).toEqual(["agent-state.json"]);
});

test("a missing, broken or foreign file is a problem, never a state", () => {
  expect(readAgentState(join(dir, "none.json")).problem).toMatch(/does not exist/);
  writeFileSync(join(dir, "x.json"), "{");
  expect(readAgentState(join(dir, "x.json")).problem).toMatch(/cannot be read/);
  writeFileSync(join(dir, "x.json"), JSON.stringify({ node: "n1" }));
  expect(readAgentState(join(dir, "x.json")).problem).toMatch(/not the agent's state/);
  writeFileSync(join(dir, "x.json"), JSON.stringify({ ...state, routes: [{ node: "n2", dst: "10.244.1.1/24", via: "172.18.0.3" }] }));
  expect(readAgentState(join(dir, "x.json")).problem).toMatch(/host bits/);
});

test("removed by uninstall, and quietly when it is not there", () => {
  writeAgentState(dir, state, () => {});
  const log: string[] = [];
  removeAgentState(dir, (l) => log.push(l));
  removeAgentState(dir, (l) => log.push(l));
  expect(readdirSync(dir)).toEqual([]);
  expect(log).toEqual([expect.stringContaining("agent-state.json")]);
  expect(() => readFileSync(agentStatePath(dir))).toThrow();
});
