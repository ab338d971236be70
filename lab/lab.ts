import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { runCommand } from "../shared/kernel/run";
import { eachArg } from "../cli/args";
import { Driver } from "./driver";
import { colours, plain, sceneLines, Style, summaryLine } from "./render";
import type { SceneContext, SceneReport } from "./scene";
import { SceneDef, SCENES } from "./scenes";
import { World } from "./world";

export interface LabOptions {
  /** Scene numbers or ids; empty means all. */
  scenes: string[];
  json: boolean;
  colour: boolean;
  cnitool?: string;
  help: boolean;
}

export const LAB_USAGE = [
  "usage: patchcord lab [--scene N|ID[,...]] [--json] [--no-color] [--cnitool PATH]",
  "Sets up the article's network topologies in throwaway network namespaces with patchcord's",
  "plugins (through the cnitool driver on libcni), checks them with pings, shows the commands the",
  "plugins ran, and removes everything. Needs root. Scenes:",
  ...SCENES.map((s, i) => `  ${i + 1}. ${s.id.padEnd(8)} ${s.title}`),
].join("\n");

export function parseLabArgs(args: string[], isTty: boolean, env: Record<string, string | undefined>): LabOptions {
  const o: LabOptions = { scenes: [], json: false, colour: isTty && !env.NO_COLOR, help: false };
  eachArg(args, (a, value) => {
    if (a === "--json") o.json = true;
    else if (a === "--no-color" || a === "--no-colour") o.colour = false;
    else if (a === "--help" || a === "-h") o.help = true;
    else if (a === "--scene") o.scenes.push(...value().split(","));
    else if (a === "--cnitool") o.cnitool = value();
    else throw new Error(`unknown argument ${JSON.stringify(a)}`);
  });
  if (o.json) o.colour = false;
  for (const s of o.scenes) if (!selectScene(s)) throw new Error(`no scene ${JSON.stringify(s)} (1-${SCENES.length} or ${SCENES.map((x) => x.id).join(", ")})`);
  return o;
}

const selectScene = (s: string): SceneDef | undefined => SCENES.find((x, i) => x.id === s || String(i + 1) === s);

/** Whether this kernel can make an ipvlan link (tried in a namespace of its own). */
async function kernelHasIpvlan(world: World): Promise<boolean> {
  const ns = world.ns("probe");
  await world.sh(["ip", "netns", "add", ns], { quiet: true });
  try {
    await world.sh(["ip", "-n", ns, "link", "add", "p0", "type", "veth", "peer", "name", "p1"], { quiet: true });
    const r = await world.sh(["ip", "-n", ns, "link", "add", "link", "p0", "name", "p2", "type", "ipvlan", "mode", "l2"], { quiet: true, allowFail: true });
    return r.code === 0;
  } finally {
    await world.sh(["ip", "netns", "del", ns], { quiet: true, allowFail: true });
  }
}

const GUESTS: Record<string, string> = { uml: "a User-Mode Linux kernel", vm: "a QEMU VM on Debian's stock kernel" };

/** The ipvlan scene inside a guest kernel (scripts/kernel-run.sh of this checkout), or why not. */
async function ipvlanInGuest(report: SceneReport, cnitool: string): Promise<void> {
  const runner = join(dirname(process.execPath), "../../scripts/kernel-run.sh");
  if (process.env.PATCHCORD_GUEST || !existsSync(runner)) {
    report.status = "skipped";
    report.reason = process.env.PATCHCORD_GUEST ? "no ipvlan even in this guest kernel" : "this kernel has no ipvlan and scripts/kernel-run.sh is not next to this binary";
    return;
  }
  const r = await runCommand([runner, "--timeout", "900", "--rerun", "--", process.execPath, "lab", "--scene", "ipvlan", "--json", "--cnitool", cnitool], "", process.env);
  const line = r.stdout.split("\n").find((l) => l.startsWith('{"lab"'));
  if (!line) {
    // 125: no guest kernel can run here; the runner's last lines say why (what is missing, or how it died).
    report.status = r.code === 125 ? "skipped" : "failed";
    report.reason = `this kernel has no ipvlan, and the guest kernel gave no result (exit ${r.code}): ${r.stderr.trim().split("\n").slice(-2).join(" ")}`;
    return;
  }
  const inner = (JSON.parse(line) as { scenes: SceneReport[] }).scenes[0];
  Object.assign(report, { ...inner, number: report.number, ranIn: `${inner.ranIn ?? "a guest kernel"}: this machine's kernel has no ipvlan module` });
}

export async function runLab(args: string[]): Promise<number> {
  const isTty = Boolean(process.stdout.isTTY);
  let o: LabOptions;
  try {
    o = parseLabArgs(args, isTty, process.env);
  } catch (e) {
    console.error(`patchcord lab: ${(e as Error).message}\n${LAB_USAGE}`);
    return 2;
  }
  if (o.help) {
    console.log(LAB_USAGE);
    return 0;
  }
  if (process.getuid?.() !== 0) {
    console.error("patchcord lab: needs root (it creates network namespaces, links and routes)");
    return 1;
  }
  const cnitool = o.cnitool ?? process.env.PATCHCORD_CNITOOL ?? join(dirname(process.execPath), "../cnitool");
  if (!existsSync(cnitool)) {
    console.error(`patchcord lab: the cnitool driver is missing at ${cnitool}: build it with conformance/cnitool/build.sh (npm start does)`);
    return 1;
  }
  const st: Style = o.colour ? colours : plain;
  const progress = (text: string) => {
    if (!o.json && process.stderr.isTTY) process.stderr.write(`\r\x1b[K${st.dim(`… ${text}`)}`);
  };
  const clearProgress = () => {
    if (!o.json && process.stderr.isTTY) process.stderr.write("\r\x1b[K");
  };

  let world: World | undefined;
  const interrupted = (signal: string, code: number) => async () => {
    clearProgress();
    console.error(`\npatchcord lab: ${signal}: removing what the lab made`);
    await world?.teardown();
    process.exit(code);
  };
  process.on("SIGINT", interrupted("interrupted", 130));
  process.on("SIGTERM", interrupted("terminated", 143));

  const selected = o.scenes.length ? SCENES.filter((s) => o.scenes.some((x) => selectScene(x) === s)) : SCENES;
  const reports: SceneReport[] = [];
  if (!o.json) console.log(st.bold(`patchcord lab: ${selected.length} scene${selected.length === 1 ? "" : "s"}, each in throwaway network namespaces`) + "\n");
  for (const scene of selected) {
    const number = SCENES.indexOf(scene) + 1;
    const report: SceneReport = { number, id: scene.id, title: scene.title, lesson: scene.lesson, status: "passed", steps: [] };
    const guest = process.env.PATCHCORD_GUEST;
    if (guest) report.ranIn = GUESTS[guest] ?? guest;
    world = new World(`pl${process.pid.toString(36)}s${number}`);
    const ctx: SceneContext = { world, driver: new Driver(world, cnitool, [dirname(process.execPath)]), report, progress: (t) => progress(`${number}. ${t}`) };
    try {
      if (scene.id === "ipvlan" && !(await kernelHasIpvlan(world))) {
        progress(`${number}. this kernel has no ipvlan: booting a guest kernel (User-Mode Linux, else a QEMU VM)`);
        await ipvlanInGuest(report, cnitool);
      } else {
        await scene.run(ctx);
      }
    } catch (e) {
      report.status = "failed";
      report.reason = (e as Error).message;
    } finally {
      await world.teardown();
      world = undefined;
    }
    clearProgress();
    reports.push(report);
    if (!o.json) console.log(sceneLines(report, st).join("\n"));
  }
  const summary = Object.fromEntries((["passed", "failed", "skipped"] as const).map((s) => [s, reports.filter((r) => r.status === s).length]));
  if (o.json) console.log(JSON.stringify({ lab: "patchcord", scenes: reports, summary }));
  else console.log(summaryLine(reports, st));
  return summary.failed ? 1 : 0;
}
