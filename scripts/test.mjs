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
// The cnitool driver (on libcni): the lab's end-to-end test needs it, and so does conformance below.
console.log("\n== cnitool driver");
const built = spawnSync("conformance/cnitool/build.sh", [], { cwd: root, stdio: "inherit" });
const typeErrors = step("type-check", ["node_modules/typescript/bin/tsc", "-p", "."]) !== 0 ? 1 : 0;
rmSync(resultsFile, { force: true });
const jest = step("tests", ["node_modules/jest/bin/jest.js", "--runInBand", "--json", `--outputFile=${resultsFile}`, ...process.argv.slice(2)]);

// Tests that need kernel features this kernel lacks (bridge VLAN filtering, ipvlan, dummy links)
// run in a User-Mode Linux kernel; without UML they count as skipped, except in CI.
const umlFile = join(root, "dist/jest-uml.json");
rmSync(umlFile, { force: true });
console.log("\n== tests inside User-Mode Linux (test/uml)");
const uml = spawnSync("scripts/uml-run.sh", ["--", process.execPath, "node_modules/jest/bin/jest.js", "--runInBand", "--json", `--outputFile=${umlFile}`], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, PATCHCORD_IN_UML: "1", UML_PASS_ENV: "PATCHCORD_IN_UML" },
});
let umlMissing = 0;
if (uml.status === 3) {
  console.log(`UML is not installed (apt-get install user-mode-linux kmod): test/uml ${process.env.CI ? "fails in CI" : "skipped"}`);
  umlMissing = 1;
}

// The conformance suite (libcni driver, ours and the reference side by side): each of our cases
// counts as a test; the reference's failures are reported in its table, not counted.
console.log("\n== conformance (cnitool on libcni)");
const conformanceFile = join(root, "dist/conformance.json");
rmSync(conformanceFile, { force: true });
let conformanceMissing = 0;
if (built.status === 3) {
  console.log(`Go or libcni is not installed (apt-get install golang-go golang-github-appc-cni-dev): conformance ${process.env.CI ? "fails in CI" : "skipped"}`);
  conformanceMissing = 1;
} else if (built.status === 0) {
  spawnSync("node_modules/@oven/bun-linux-x64/bin/bun", ["conformance/run.ts", "--json", conformanceFile], { cwd: root, stdio: "inherit" });
}
const conformance = existsSync(conformanceFile) ? JSON.parse(readFileSync(conformanceFile, "utf8")).summary.patchcord : undefined;

const summaries = [resultsFile, umlFile].map((f) => (existsSync(f) ? JSON.parse(readFileSync(f, "utf8")) : undefined));
const [main, inUml] = summaries;
const count = (r, key) => (r ? r[key] : 0);
let failed = typeErrors;
for (const [r, code] of [[main, jest], [inUml, umlMissing ? 0 : uml.status ?? 1]]) {
  if (!r) failed += code === 0 ? 0 : 1;
  else failed += r.numFailedTests + r.numRuntimeErrorTestSuites + (code !== 0 && !r.numFailedTests && !r.numRuntimeErrorTestSuites ? 1 : 0);
}
if (umlMissing && process.env.CI) failed += 1;
if (conformance) failed += conformance.failed;
else if (!conformanceMissing || process.env.CI) failed += 1;
const passed = count(main, "numPassedTests") + count(inUml, "numPassedTests") + (conformance?.passed ?? 0);
const skipped =
  summaries.reduce((n, r) => n + count(r, "numPendingTests") + count(r, "numTodoTests"), 0) + (umlMissing && !process.env.CI ? 1 : 0) + (conformanceMissing && !process.env.CI ? 1 : 0);
finish(passed, failed, skipped);
