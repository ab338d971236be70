import fc from "fast-check";
import { haveBinaries, isRoot, testIf } from "../integration/helpers";
import { recordFigure } from "./figures";
import { FuzzLab } from "./fuzz/campaign";
import { FuzzInput, fuzzInput, Plugin, PLUGINS, resolve } from "./fuzz/generators";
import { REGRESSIONS } from "./fuzz/regressions";
import { bigDocuments } from "./fuzz/big-documents";

// Property-based fuzzing of every plugin and verb through the real shim, against the real kernel in
// throwaway namespaces (issue 14). Fixed seeds keep CI repeatable; PATCHCORD_FUZZ_RUNS (inputs per
// plugin) and PATCHCORD_FUZZ_SEED run longer or other campaigns by hand.
const it = testIf(isRoot && haveBinaries, "needs root and the built binaries (npm run build)");
const RUNS = Number(process.env.PATCHCORD_FUZZ_RUNS ?? 0) || 0;
const SEED = Number(process.env.PATCHCORD_FUZZ_SEED ?? 0) || 14_2026;
/** Inputs per plugin by default: what fits the suite's ~90 s on the 2-core CI machine. */
const DEFAULT_RUNS: Record<Plugin, number> = { bridge: 120, "veth-routed": 110, macvlan: 110, ipvlan: 80, "host-local": 110 };
const runsFor = (p: Plugin) => RUNS || DEFAULT_RUNS[p];
/** Each plugin's own seed, from the base seed (PATCHCORD_FUZZ_SEED). */
const seedFor = (p: Plugin) => SEED + PLUGINS.indexOf(p);
const msPerInput = 400;

const lab = new FuzzLab();
const started = Date.now();

beforeAll(async () => {
  if (isRoot && haveBinaries) await lab.create();
}, 30_000);
afterAll(async () => {
  await lab.destroy();
  for (const [plugin, t] of Object.entries(lab.tally)) {
    // eslint-disable-next-line no-console
    console.log(`fuzz ${plugin}: ${t.inputs} inputs (${t.accepted} accepted, ${t.refused} refused), ${t.calls} calls; answers: ${JSON.stringify(t.answers)}`);
    recordFigure({ suite: "fuzz", what: `${plugin}: inputs tried`, value: t.inputs, unit: "inputs" });
    recordFigure({ suite: "fuzz", what: `${plugin}: accepted`, value: t.accepted, unit: "inputs" });
    recordFigure({ suite: "fuzz", what: `${plugin}: refused`, value: t.refused, unit: "inputs" });
    recordFigure({ suite: "fuzz", what: `${plugin}: plugin calls (with CHECK and DEL after an accepted ADD, the other mode's answer)`, value: t.calls, unit: "calls" });
  }
  recordFigure({ suite: "fuzz", what: "the fuzz suite's duration", value: Math.round((Date.now() - started) / 1000), unit: "s" });
}, 30_000);

const describeInput = (i: FuzzInput) => JSON.stringify({ plugin: i.plugin, verb: i.verb, exec: i.exec, mutation: i.mutation, expect: i.expect, env: i.env, stdin: i.stdin }).slice(0, 4000);

describe("fuzz", () => {
  it(`regressions (${REGRESSIONS.length}) answer as they must and change nothing`, async () => {
    const failures: string[] = [];
    for (const r of REGRESSIONS) {
      const problems = await lab.check(r);
      if (problems.length) failures.push(`${r.name}:\n  ${problems.join("\n  ")}`);
    }
    expect(failures).toEqual([]);
  }, 60_000);

  it("10 MB documents: nested arrays and a huge string, every plugin", async () => {
    const failures: string[] = [];
    for (const input of bigDocuments()) {
      const t0 = Date.now();
      const problems = await lab.check(input);
      // eslint-disable-next-line no-console
      console.log(`fuzz: ${input.plugin} ${input.verb} ${input.mutation} (${input.exec ? "exec" : "server"} mode): ${Date.now() - t0} ms`);
      if (problems.length) failures.push(`${input.plugin} ${input.verb} ${input.mutation}:\n  ${problems.join("\n  ")}`);
    }
    expect(failures).toEqual([]);
  }, 90_000);

  for (const plugin of PLUGINS) {
    it(`${plugin}: every verb, generated and mutated inputs (seed ${seedFor(plugin)}, ${runsFor(plugin)} inputs)`, async () => {
      // eslint-disable-next-line no-console
      console.log(`fuzz ${plugin}: seed ${seedFor(plugin)} (base seed ${SEED}: PATCHCORD_FUZZ_SEED), ${runsFor(plugin)} inputs (PATCHCORD_FUZZ_RUNS)`);
      await fc.assert(
        fc.asyncProperty(fuzzInput(plugin), async (input) => {
          const problems = await lab.check(input);
          if (problems.length) throw new Error(`${problems.join("\n")}\ninput: ${describeInput(resolve(input, lab.ctx))}`);
        }),
        { seed: seedFor(plugin), numRuns: runsFor(plugin), endOnFailure: process.env.PATCHCORD_FUZZ_SHRINK !== "1", verbose: 1 },
      );
    }, runsFor(plugin) * msPerInput + 20_000);
  }
});
