import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { runCommand } from "../../shared/kernel/run";
import type { SceneReport } from "../../lab/scene";
import { BIN, CNITOOL, haveBinaries, isRoot, testIf } from "./helpers";

// `patchcord lab` end to end, as a person runs it: every scene (ipvlan inside a guest kernel on
// this kernel: User-Mode Linux, else a QEMU VM), then an interrupted run that must leave nothing behind.
const cnitool = CNITOOL;
const it = testIf(isRoot && haveBinaries && existsSync(cnitool), "needs root, the built binaries and dist/cnitool (conformance/cnitool/build.sh)");
const patchcord = join(BIN, "patchcord");
const leftovers = async (prefix: string) => (await runCommand(["ip", "netns", "list"])).stdout.split("\n").filter((l) => l.startsWith(prefix));

it("every scene as expected, with matrices, plugin commands and evidence; nothing left behind", async () => {
  const r = await runCommand([patchcord, "lab", "--json"]);
  expect(r.stderr).toBe("");
  const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as { scenes: SceneReport[]; summary: Record<string, number> };
  expect(out.scenes.map((s) => s.id)).toEqual(["bridge", "routed", "macvlan", "ipvlan", "nat"]);
  // Only ipvlan may be skipped (no ipvlan and no guest kernel that boots), and never in CI.
  const acceptable = (s: SceneReport) => s.status === "passed" || (s.status === "skipped" && s.id === "ipvlan" && !process.env.CI);
  for (const s of out.scenes) expect([s.id, acceptable(s) ? "ok" : `${s.status}: ${s.reason ?? ""}`]).toEqual([s.id, "ok"]);
  expect(r.code).toBe(0);
  for (const s of out.scenes.filter((x) => x.status === "passed")) {
    const kinds = new Set(s.steps.map((step) => step.kind));
    expect([s.id, [...kinds].sort()]).toEqual([s.id, ["evidence", "matrix", "plugin", "setup"]]);
    const plugin = s.steps.find((step) => step.kind === "plugin") as { script: string[] };
    expect(plugin.script.some((l) => l.startsWith("ip ") || l.startsWith("nsenter "))).toBe(true);
  }
  const routed = out.scenes.find((s) => s.id === "routed")!;
  const matrices = routed.steps.filter((s) => s.kind === "matrix") as { checks: { expected: boolean; seen: boolean }[] }[];
  expect(matrices.map((m) => m.checks.map((c) => c.seen))).toEqual([[true, true, true], [false], [true, true]]);
  const ipvlan = out.scenes.find((s) => s.id === "ipvlan")!;
  if (ipvlan.status === "passed") expect(ipvlan.ranIn).toMatch(/^(a User-Mode Linux kernel|a QEMU VM on Debian's stock kernel): this machine's kernel has no ipvlan module$/);
  expect(await leftovers("pl")).toEqual([]);
}, 1_200_000);

it("an interrupted lab (SIGINT) removes what it made and exits 130", async () => {
  const child = spawn(patchcord, ["lab", "--scene", "routed"], { stdio: ["ignore", "pipe", "pipe"] });
  const prefix = `pl${child.pid!.toString(36)}s`;
  let stderr = "";
  child.stderr.on("data", (c) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  // Wait until the scene has made its namespaces, then interrupt it in the middle.
  for (let i = 0; i < 100 && (await leftovers(prefix)).length < 3; i++) await new Promise((r) => setTimeout(r, 50));
  expect((await leftovers(prefix)).length).toBeGreaterThanOrEqual(3);
  child.kill("SIGINT");
  expect(await exited).toBe(130);
  expect(stderr).toMatch("interrupted: removing what the lab made");
  expect(await leftovers(prefix)).toEqual([]);
}, 60_000);

it("explains itself and refuses bad arguments", async () => {
  const help = await runCommand([patchcord, "lab", "--help"]);
  expect([help.code, help.stdout]).toEqual([0, expect.stringContaining("1. bridge")]);
  const bad = await runCommand([patchcord, "lab", "--scene", "42"]);
  expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('no scene "42"')]);
});
