import { join } from "node:path";
import { Driver } from "../../lab/driver";
import { reaches, SceneContext, SceneReport } from "../../lab/scene";
import { SCENES } from "../../lab/scenes";
import { World } from "../../lab/world";
import { runCommand, RunResult } from "../../shared/kernel/run";
import { BIN, CNITOOL } from "./helpers";

/**
 * The lab's scenes as doctor's test bed: a scene builds its topology (wired by the plugins through
 * cnitool, checked with its pings) and, unlike `patchcord lab`, leaves it standing until `teardown()`,
 * so that a test can break it one way and ask doctor.
 */
export class SceneBed {
  private made?: World;
  readonly report: SceneReport;

  constructor(
    readonly scene: string,
    private readonly prefix: string,
  ) {
    this.report = { number: 0, id: scene, title: scene, lesson: "", status: "passed", steps: [] };
  }

  /** Made by build() (a World makes its scratch directory at once; a skipped suite must not). */
  get world(): World {
    if (!this.made) throw new Error("SceneBed: build() first");
    return this.made;
  }

  async build(): Promise<this> {
    this.made = new World(this.prefix);
    const def = SCENES.find((s) => s.id === this.scene);
    if (!def) throw new Error(`no scene ${this.scene}`);
    const ctx: SceneContext = { world: this.world, driver: new Driver(this.world, CNITOOL, [BIN]), report: this.report, progress: () => {} };
    await def.run(ctx);
    if (this.report.status !== "passed") throw new Error(`scene ${this.scene} did not pass: ${JSON.stringify(this.report.steps.filter((s) => s.kind === "evidence" || s.kind === "matrix"))}`);
    return this;
  }

  /** A namespace of the scene by its short name ("router", "rt-a"). */
  ns(name: string): string {
    return this.world.ns(name);
  }

  /** Runs argv in the scene's namespace `name`. */
  async in(name: string, ...argv: string[]): Promise<RunResult> {
    const r = await runCommand(["ip", "netns", "exec", this.ns(name), ...argv]);
    if (r.code !== 0) throw new Error(`${argv.join(" ")} in ${name}: ${r.stderr.trim()}`);
    return r;
  }

  /** The options that point doctor at node `name` as its runtime (cnitool) set it up. */
  doctorArgs(node: string, binDir = BIN): string[] {
    const dir = join(this.world.dir, this.ns(node));
    return ["--netns", this.ns(node), "--conf-dir", join(dir, "net.d"), "--bin-dir", binDir, "--cache-dir", join(dir, "cache")];
  }

  /** One ping from the scene's namespace `from`. */
  reaches(from: string, address: string): Promise<boolean> {
    return reaches(this.world, this.ns(from), address);
  }

  async teardown(): Promise<void> {
    await this.made?.teardown();
  }
}

export interface DoctorRun {
  code: number;
  findings: { id: string; message: string; evidence: { command: string; output: string }[]; fix: string[] }[];
  doc: Record<string, unknown>;
  stderr: string;
}

/** `patchcord doctor --json` as an operator runs it (the built binary). */
export async function runDoctor(args: string[]): Promise<DoctorRun> {
  const r = await runCommand([join(BIN, "patchcord"), "doctor", "--json", ...args]);
  let doc: Record<string, unknown> = {};
  try {
    doc = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    throw new Error(`doctor printed no JSON (exit ${r.code}): ${r.stdout}${r.stderr}`);
  }
  return { code: r.code, findings: (doc.findings ?? []) as DoctorRun["findings"], doc, stderr: r.stderr };
}

export const ids = (r: DoctorRun): string[] => [...new Set(r.findings.map((f) => f.id))].sort();
