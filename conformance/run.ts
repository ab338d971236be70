// npm run conformance: every scenario for every plugin and spec version it applies to, through
// the cnitool driver on libcni, for patchcord and for the reference plugins side by side.
// Prints a table and writes reports/conformance.{json,md}. Exit code 1 if a patchcord case fails.
//   --only SCENARIO[,..]   run only these scenarios     --json FILE   also write the raw results there
//   --patchcord-only       skip the reference side and leave reports/ alone (npm test's pass with
//                          the resident server, whose table would only repeat the first one)
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Implementation, Run } from "./harness";
import { SCENARIOS } from "./scenarios";

const ROOT = join(__dirname, "..");
const REFERENCE = "/usr/lib/cni";
export const VERSIONS = ["0.3.1", "0.4.0", "1.0.0", "1.1.0"];
// ipvlan is left out: this kernel has no ipvlan module (its tests run in a guest kernel: scripts/kernel-run.sh).
export const PLUGINS = ["bridge", "veth-routed", "macvlan"];

const IMPLEMENTATIONS: Implementation[] = [
  // Our plugins first in CNI_PATH; the reference meta plugins (portmap, tuning, bandwidth) after.
  { name: "patchcord", path: [join(ROOT, "dist/bin"), REFERENCE], bin: join(ROOT, "dist/bin"), type: (p) => p },
  { name: "reference", path: [REFERENCE], bin: REFERENCE, type: (p) => (p === "veth-routed" ? "ptp" : p) },
];

interface Outcome {
  plugin: string;
  scenario: string;
  version: string;
  implementation: string;
  pass: boolean;
  detail?: string;
  ms: number;
}

const args = process.argv.slice(2);
const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const only = flag("--only")?.split(",");
const patchcordOnly = args.includes("--patchcord-only");

async function runOne(impl: Implementation, plugin: string, scenario: (typeof SCENARIOS)[number], version: string): Promise<Outcome> {
  const run = new Run(impl, plugin, version);
  const start = performance.now();
  try {
    await run.start();
    await scenario.run(run);
    return { plugin, scenario: scenario.name, version, implementation: impl.name, pass: true, ms: performance.now() - start };
  } catch (e) {
    const detail = (e as Error).message.split("\n")[0].slice(0, 300);
    return { plugin, scenario: scenario.name, version, implementation: impl.name, pass: false, detail, ms: performance.now() - start };
  } finally {
    await run.cleanup();
  }
}

function table(outcomes: Outcome[]): string {
  const rows = new Map<string, Record<string, Outcome>>();
  for (const o of outcomes) {
    const key = `${o.plugin}|${o.scenario}|${o.version}`;
    rows.set(key, { ...(rows.get(key) ?? {}), [o.implementation]: o });
  }
  const cell = (o?: Outcome) => (!o ? "-" : o.pass ? "pass" : `FAIL: ${o.detail?.replace(/\|/g, "\\|")}`);
  const lines = ["| plugin | scenario | version | patchcord | reference |", "|---|---|---|---|---|"];
  for (const [key, byImpl] of rows) {
    const [plugin, scenario, version] = key.split("|");
    lines.push(`| ${plugin} | ${scenario} | ${version} | ${cell(byImpl.patchcord)} | ${cell(byImpl.reference)} |`);
  }
  return lines.join("\n");
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error("conformance: needs root (network namespaces)");
    return 2;
  }
  const outcomes: Outcome[] = [];
  for (const plugin of PLUGINS) {
    for (const scenario of SCENARIOS) {
      if (only && !only.includes(scenario.name)) continue;
      if (scenario.applies && !scenario.applies(plugin)) continue;
      const versions = scenario.once ? ["-"] : VERSIONS.filter((v) => !scenario.versions || scenario.versions(v));
      for (const version of versions) {
        for (const impl of IMPLEMENTATIONS.filter((i) => !patchcordOnly || i.name === "patchcord")) {
          const o = await runOne(impl, plugin, scenario, version === "-" ? "1.0.0" : version);
          o.version = version;
          outcomes.push(o);
          console.log(`${o.pass ? "pass" : "FAIL"}  ${impl.name.padEnd(9)} ${plugin} ${scenario.name} ${version}${o.detail ? `: ${o.detail}` : ""}`);
        }
      }
    }
  }
  const md = table(outcomes);
  console.log(`\n${md}\n`);
  const ours = outcomes.filter((o) => o.implementation === "patchcord");
  const theirs = outcomes.filter((o) => o.implementation === "reference");
  const regressions = ours.filter((o) => !o.pass && theirs.some((t) => t.pass && t.scenario === o.scenario && t.version === o.version && t.plugin === o.plugin));
  const summary = {
    patchcord: { passed: ours.filter((o) => o.pass).length, failed: ours.filter((o) => !o.pass).length },
    reference: { passed: theirs.filter((o) => o.pass).length, failed: theirs.filter((o) => !o.pass).length },
    failedWhereReferencePasses: regressions.length,
  };
  console.log(`conformance: patchcord ${summary.patchcord.passed} passed, ${summary.patchcord.failed} failed; reference ${summary.reference.passed} passed, ${summary.reference.failed} failed`);
  if (!only && !patchcordOnly) {
    const dir = join(ROOT, "reports");
    mkdirSync(dir, { recursive: true });
    const generated = "Generated by `npm run conformance`; do not edit by hand.";
    writeFileSync(join(dir, "conformance.json"), JSON.stringify({ note: generated, versions: VERSIONS, summary, outcomes: outcomes.map(({ ms: _ms, ...o }) => o) }, null, 2) + "\n");
    writeFileSync(join(dir, "conformance.md"), `# Conformance: patchcord and the reference plugins through libcni\n\n${generated}\n\n${md}\n\n${summary.patchcord.passed} passed, ${summary.patchcord.failed} failed for patchcord; ${summary.reference.passed} passed, ${summary.reference.failed} failed for the reference plugins.\n`);
  }
  const jsonFile = flag("--json");
  if (jsonFile) writeFileSync(jsonFile, JSON.stringify({ summary, outcomes }, null, 2));
  return summary.patchcord.failed ? 1 : 0;
}

main().then((code) => process.exit(code));
