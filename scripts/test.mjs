#!/usr/bin/env node
// npm test: type-check, build the binaries, then every jest suite (unit and, as root, the
// real-kernel integration tests), ending with one `N passed, M failed` line.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const step = (what, cmd, argv) => {
  console.log(`\n== ${what}`);
  const r = spawnSync(cmd, argv, { cwd: root, stdio: "inherit" });
  return r.status ?? 1;
};
if (step("build", process.execPath, ["scripts/build.mjs"]) !== 0) {
  console.log("0 passed, 1 failed");
  process.exit(1);
}
const tsc = step("type-check", process.execPath, ["node_modules/typescript/bin/tsc", "-p", "."]);
const jest = step("tests", process.execPath, ["node_modules/jest/bin/jest.js", "--runInBand", ...process.argv.slice(2)]);
if (tsc !== 0) console.log("type-check failed\n0 passed, 1 failed");
process.exit(tsc || jest);
