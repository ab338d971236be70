import { existsSync } from "node:fs";
import { join } from "node:path";
import { runCommand } from "../../shared/kernel/run";
import { ROOT, testIf } from "./helpers";

// shared/sys/fs.ts replaces node:fs in the compiled binaries (plain system calls over Bun's FFI).
// It can only run under Bun, so Bun runs the same file operations through both and we compare.
const bun = join(ROOT, "node_modules/@oven/bun-linux-x64/bin/bun");
const it = testIf(existsSync(bun) && process.arch === "x64", "needs Bun from npm ci (x86-64)");

it("the system-call file functions give node:fs's results and error codes, step by step", async () => {
  const r = await runCommand([bun, join(__dirname, "fixtures/fs-compare.ts")]);
  expect([r.code, r.stderr]).toEqual([0, ""]);
  const [viaNode, viaSyscalls] = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { name: string; steps: [string, string, unknown][] });
  expect(viaSyscalls.name).toBe("syscalls");
  expect(viaSyscalls.steps.length).toBeGreaterThan(30);
  for (const [i, step] of viaNode.steps.entries()) expect(viaSyscalls.steps[i]).toEqual(step);
  // The sequence does exercise the failures that host-local relies on.
  const codes = new Set(viaSyscalls.steps.filter((s) => s[1] === "error").map((s) => s[2]));
  expect([...codes].sort()).toEqual(["EEXIST", "ENOENT", "ENOTDIR"]);
});
