#!/usr/bin/env node
// npm test: build the binaries, type-check, then every jest suite (unit and, as root, the
// real-kernel integration tests). The last line is `N passed, M failed, K skipped` over all of it
// (a failed build or type-check counts as one failed test), the line CI reads.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const resultsFile = join(root, "dist/jest-results.json");
const step = (what, argv) => {
  console.log(`\n== ${what}`);
  return spawnSync(process.execPath, argv, { cwd: root, stdio: "inherit" }).status ?? 1;
};
const finish = (passed, failed, skipped) => {
  console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
  process.exit(failed ? 1 : 0);
};

if (step("build", ["scripts/build.mjs"]) !== 0) finish(0, 1, 0);
const typeErrors = step("type-check", ["node_modules/typescript/bin/tsc", "-p", "."]) !== 0 ? 1 : 0;
rmSync(resultsFile, { force: true });
const jest = step("tests", ["node_modules/jest/bin/jest.js", "--runInBand", "--json", `--outputFile=${resultsFile}`, ...process.argv.slice(2)]);
if (!existsSync(resultsFile)) finish(0, 1 + typeErrors, 0);
const r = JSON.parse(readFileSync(resultsFile, "utf8"));
const failed = r.numFailedTests + r.numRuntimeErrorTestSuites + typeErrors + (jest !== 0 && r.numFailedTests === 0 && r.numRuntimeErrorTestSuites === 0 ? 1 : 0);
finish(r.numPassedTests, failed, r.numPendingTests + r.numTodoTests);
