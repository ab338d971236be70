#!/usr/bin/env node
// npm test: build the binaries, type-check, then every jest suite (unit and, as root, the
// real-kernel integration tests). The last line is `N passed, M failed, K skipped` over all of it
// (a failed build or type-check counts as one failed test), the line CI reads.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
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
// The fault campaign's suites (test/campaign) write their figures here; printed at the end.
const figuresFile = join(root, "dist/campaign-figures.jsonl");
rmSync(figuresFile, { force: true });
// @kubernetes/client-node is ESM only: jest loads it through Node's VM modules.
const jest = step("tests", ["--experimental-vm-modules", "--no-warnings=ExperimentalWarning", "node_modules/jest/bin/jest.js", "--runInBand", "--json", `--outputFile=${resultsFile}`, ...process.argv.slice(2)]);

// The same integration suites (but those that start servers of their own) and conformance cases
// again, with the resident server up: the shims (dist/bin/<plugin>) forward every call to it.
// Above, with no server, they ran the Bun binary.
// The server logs each call it ran, so a pass that quietly ran without it counts as a failure.
// doctor's suites are left out too: the lab's cnitool driver starts the plugins with an
// environment of its own (no PATCHCORD_SOCKET), so a second pass would only repeat them.
const SERVER_SUITES = "/test/integration/(?!(kernel-run|image|server|hostile-input|doctor|doctor-agent|doctor-probe)\\.test)";
const serverDir = mkdtempSync(join(tmpdir(), "pc-test-server-"));
const serverSocket = join(serverDir, "cni.sock");
const serverLog = join(serverDir, "server.log");
console.log(`\n== tests with the resident server (${serverSocket})`);
const logFd = openSync(serverLog, "a");
const server = spawn(join(root, "dist/bin/patchcord"), ["serve", "--socket", serverSocket], { cwd: root, stdio: ["ignore", logFd, logFd], env: { ...process.env, PATCHCORD_SERVER_LOG: "requests" } });
for (let i = 0; i < 100 && !existsSync(serverSocket); i++) spawnSync("sleep", ["0.1"]);
const serverResultsFile = join(root, "dist/jest-results-server.json");
rmSync(serverResultsFile, { force: true });
const withServer = { ...process.env, PATCHCORD_SOCKET: serverSocket };
const serverJest = spawnSync(process.execPath, ["--experimental-vm-modules", "--no-warnings=ExperimentalWarning", "node_modules/jest/bin/jest.js", "--runInBand", "--json", `--outputFile=${serverResultsFile}`, SERVER_SUITES], { cwd: root, stdio: "inherit", env: withServer }).status ?? 1;

// Tests that need kernel features this kernel lacks (bridge VLAN filtering, ipvlan, dummy links)
// run in one guest kernel, all of them in one boot: User-Mode Linux where it boots, else a QEMU VM
// (scripts/kernel-run.sh decides by trying). Where neither can run they are skipped, except in CI.
const guestFile = join(root, "dist/jest-kernel-features.json");
rmSync(guestFile, { force: true });
console.log("\n== tests in a guest kernel (test/kernel-features)");
const guestStarted = Date.now();
const guest = spawnSync(
  "scripts/kernel-run.sh",
  ["--mem", "2G", "--timeout", "2400", "--rerun", "--", process.execPath, "node_modules/jest/bin/jest.js", "--runInBand", "--json", `--outputFile=${guestFile}`],
  { cwd: root, stdio: "inherit" },
);
console.log(`(guest kernel run: ${Math.round((Date.now() - guestStarted) / 1000)} s)`);
let guestMissing = 0;
if (guest.status === 125) {
  console.log(`No guest kernel can run here (the lines above say why): test/kernel-features ${process.env.CI ? "fails in CI" : "skipped"}`);
  guestMissing = 1;
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

console.log("\n== conformance with the resident server");
const conformanceServerFile = join(root, "dist/conformance-server.json");
rmSync(conformanceServerFile, { force: true });
if (built.status === 0) {
  spawnSync("node_modules/@oven/bun-linux-x64/bin/bun", ["conformance/run.ts", "--json", conformanceServerFile, "--patchcord-only"], { cwd: root, stdio: "inherit", env: withServer });
}
const conformanceServer = existsSync(conformanceServerFile) ? JSON.parse(readFileSync(conformanceServerFile, "utf8")).summary.patchcord : undefined;
server.kill("SIGTERM");
await new Promise((resolve) => (server.exitCode !== null ? resolve() : server.on("exit", resolve)));
const served = readFileSync(serverLog, "utf8").split("\n").filter((l) => /: \d+ \(\d+ ms\)$/.test(l)).length;
const serverAlive = server.exitCode === 0;
console.log(`resident server: ${served} calls served, exit ${server.exitCode}${serverAlive ? "" : ` (its log: ${serverLog})`}`);
// Most of the suites' calls go through it; a few hundred would mean the shims fell back.
const serverShort = served < 1000 ? 1 : 0;
if (serverShort) console.log(`FAILED: the resident server ran only ${served} calls: the shims did not reach it (log: ${serverLog})`);
else if (serverAlive) rmSync(serverDir, { recursive: true, force: true });

printFigures();

/** The campaign's figures (inputs tried, kills, faults, durations), one line each, by suite. */
function printFigures() {
  if (!existsSync(figuresFile)) return;
  const figures = readFileSync(figuresFile, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  console.log("\n== the fault campaign's figures (test/campaign)");
  for (const suite of [...new Set(figures.map((f) => f.suite))]) {
    console.log(`${suite}:`);
    for (const f of figures.filter((x) => x.suite === suite)) console.log(`  ${f.what}: ${f.value} ${f.unit}`);
  }
}

const summaries = [resultsFile, guestFile, serverResultsFile].map((f) => (existsSync(f) ? JSON.parse(readFileSync(f, "utf8")) : undefined));
const [main, inGuest, serverPass] = summaries;
const count = (r, key) => (r ? r[key] : 0);
let failed = typeErrors + serverShort + (serverAlive ? 0 : 1);
for (const [r, code] of [[main, jest], [inGuest, guestMissing ? 0 : guest.status ?? 1], [serverPass, serverJest]]) {
  if (!r) failed += code === 0 ? 0 : 1;
  else failed += r.numFailedTests + r.numRuntimeErrorTestSuites + (code !== 0 && !r.numFailedTests && !r.numRuntimeErrorTestSuites ? 1 : 0);
}
if (guestMissing && process.env.CI) failed += 1;
for (const c of [conformance, conformanceServer]) {
  if (c) failed += c.failed;
  else if (!conformanceMissing || process.env.CI) failed += 1;
}
const passed = count(main, "numPassedTests") + count(inGuest, "numPassedTests") + count(serverPass, "numPassedTests") + (conformance?.passed ?? 0) + (conformanceServer?.passed ?? 0);
const skipped =
  summaries.reduce((n, r) => n + count(r, "numPendingTests") + count(r, "numTodoTests"), 0) + (guestMissing && !process.env.CI ? 1 : 0) + (conformanceMissing && !process.env.CI ? 1 : 0);
finish(passed, failed, skipped);
