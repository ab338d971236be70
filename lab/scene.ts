import { Driver, Invocation } from "./driver";
import type { World } from "./world";

/** One ping the scene expects to succeed or not, and what happened. */
export interface Check {
  from: string;
  to: string;
  address: string;
  expected: boolean;
  seen?: boolean;
}

/** A scene's narrative, in order: what was set up, what the plugins did, who reached whom, evidence. */
export type Step =
  | { kind: "setup"; title: string; commands: string[] }
  | { kind: "plugin"; title: string; script: string[] }
  | { kind: "matrix"; title: string; checks: Check[] }
  | { kind: "evidence"; title: string; lines: string[] };

export interface SceneReport {
  number: number;
  id: string;
  title: string;
  lesson: string;
  status: "passed" | "failed" | "skipped";
  reason?: string;
  /** Where it ran when not on this kernel (e.g. "User-Mode Linux"). */
  ranIn?: string;
  steps: Step[];
}

export interface SceneContext {
  world: World;
  driver: Driver;
  report: SceneReport;
  /** Progress for slow steps (stderr on a terminal). */
  progress: (text: string) => void;
}

/** Records the commands the lab ran since the last record as a setup step. */
export function setupStep(ctx: SceneContext, title: string): void {
  const commands = ctx.world.takeShown();
  if (commands.length) ctx.report.steps.push({ kind: "setup", title, commands });
}

/** Runs cnitool ADD for `pod` and records the commands the plugins ran. */
export async function wire(ctx: SceneContext, node: string, network: string, pod: string, label: string): Promise<Invocation> {
  ctx.progress(`${label}: cnitool add ${network}`);
  const inv = await ctx.driver.add(node, network, pod);
  ctx.report.steps.push({ kind: "plugin", title: `${label} (cnitool add ${network})`, script: inv.script });
  return inv;
}

/** One ping from namespace `fromNs`; one second at most for one that is expected to fail. */
export async function reaches(world: World, fromNs: string, address: string): Promise<boolean> {
  const r = await world.inNs(fromNs, ["ping", "-c", "1", "-W", "1", "-n", "-q", address], { quiet: true, allowFail: true });
  return r.code === 0;
}

/** Pings every check (in order) and records the matrix; a mismatch fails the scene. */
export async function matrix(ctx: SceneContext, title: string, checks: (Check & { fromNs: string })[]): Promise<void> {
  ctx.progress(`${title}: ${checks.length} pings`);
  const done: Check[] = [];
  for (const { fromNs, ...c } of checks) done.push({ ...c, seen: await reaches(ctx.world, fromNs, c.address) });
  ctx.report.steps.push({ kind: "matrix", title, checks: done });
  if (done.some((c) => c.seen !== c.expected)) ctx.report.status = "failed";
}

export function evidence(ctx: SceneContext, title: string, lines: string[]): void {
  ctx.report.steps.push({ kind: "evidence", title, lines });
}

/** Fails the scene with `message` unless `ok`, keeping it in the evidence. */
export function expectThat(ctx: SceneContext, ok: boolean, message: string): void {
  if (!ok) {
    ctx.report.status = "failed";
    evidence(ctx, "unexpected", [message]);
  }
}

/** The ICMP counters of `/proc/net/snmp` (InEchos, OutEchoReps, InEchoReps, ...) in a namespace. */
export async function icmpCounters(world: World, ns: string): Promise<Record<string, number>> {
  const text = (await world.inNs(ns, ["cat", "/proc/net/snmp"], { quiet: true })).stdout;
  const lines = text.split("\n").filter((l) => l.startsWith("Icmp:"));
  if (lines.length < 2) return {};
  const keys = lines[0].split(/\s+/).slice(1);
  const values = lines[1].split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(keys.map((k, i) => [k, values[i]]));
}

/** A link's MAC address inside a namespace. */
export async function macOf(world: World, ns: string, dev: string): Promise<string> {
  const r = await world.inNs(ns, ["ip", "-j", "link", "show", "dev", dev], { quiet: true });
  return (JSON.parse(r.stdout || "[{}]")[0] as { address?: string }).address ?? "?";
}
