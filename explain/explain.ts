import { readFileSync } from "node:fs";
import type { Conflist } from "../shared/cni/conflist";
import type { Invocation } from "../shared/cni/env";
import { CniError } from "../shared/cni/errors";
import { absolutePathProblem, containerIdProblem, interfaceNameProblem } from "../shared/cni/names";
import { eachArg } from "../cli/args";
import { pluginFor } from "../plugins/registry";
import { explainPlugin } from "./plan-plugin";

export interface ExplainOptions {
  file: string;
  command: "ADD" | "DEL";
  netns: string;
  ifname: string;
  containerId: string;
}

export const EXPLAIN_USAGE = [
  "usage: patchcord explain CONFLIST [--command ADD|DEL] [--netns PATH] [--ifname NAME] [--container-id ID]",
  "Prints what the plugins of CONFLIST (a .conflist, or one plugin's .conf) would do to the kernel,",
  "as a shell script with comments, without doing it: the kernel and the IPAM store are only read.",
  "Defaults: ADD, --netns /run/netns/example, --ifname eth0, --container-id example.",
].join("\n");

export function parseExplainArgs(args: string[]): ExplainOptions {
  const o: Partial<ExplainOptions> = { command: "ADD", netns: "/run/netns/example", ifname: "eth0", containerId: "example" };
  eachArg(args, (a, value) => {
    if (a === "--command") {
      const c = value().toUpperCase();
      if (c !== "ADD" && c !== "DEL") throw new Error(`--command must be ADD or DEL, got ${JSON.stringify(c)}`);
      o.command = c;
    } else if (a === "--netns") o.netns = value();
    else if (a === "--ifname") o.ifname = value();
    else if (a === "--container-id") o.containerId = value();
    else if (a.startsWith("-")) throw new Error(`unknown option ${JSON.stringify(a)}`);
    else if (o.file) throw new Error(`one CONFLIST only (got ${JSON.stringify(o.file)} and ${JSON.stringify(a)})`);
    else o.file = a;
  });
  if (!o.file) throw new Error("CONFLIST is missing");
  const problem = absolutePathProblem(o.netns!) ?? interfaceNameProblem(o.ifname!) ?? containerIdProblem(o.containerId!);
  if (problem) throw new Error(`invalid --netns, --ifname or --container-id: ${problem}`);
  return o as ExplainOptions;
}


/** A .conflist as is; a single plugin's .conf as a list of one. */
export function readConflist(text: string): Conflist {
  const raw = JSON.parse(text) as Record<string, unknown>;
  if (typeof raw.name !== "string") throw new Error('the config has no "name"');
  if (Array.isArray(raw.plugins)) return { cniVersion: String(raw.cniVersion ?? "1.1.0"), name: raw.name, plugins: raw.plugins as Record<string, unknown>[] };
  if (typeof raw.type !== "string") throw new Error('the config has neither "plugins" nor "type"');
  const { cniVersion, name, ...plugin } = raw;
  return { cniVersion: String(cniVersion ?? "1.1.0"), name: String(name), plugins: [plugin] };
}

/** The whole script for `o`: a header, then each plugin in the order the runtime runs them. */
export async function explain(o: ExplainOptions, list: Conflist): Promise<string[]> {
  const inv: Invocation = { command: o.command, containerId: o.containerId, netns: o.netns, ifname: o.ifname, args: {}, path: [] };
  const lines = [
    "#!/bin/sh",
    `# patchcord explain: what ${o.command} of network ${JSON.stringify(list.name)} would do to the kernel`,
    `# container ${o.containerId}, interface ${o.ifname}, network namespace ${o.netns}`,
    "# Nothing below has run. MACs are random, as the plugins pick them; the kernel and the IPAM store",
    "# were only read. Compiled plugins make these changes over rtnetlink; the commands are the same.",
    // ADD stops at the first failure (the plugin undoes what it did); DEL is best effort.
    o.command === "ADD" ? "set -e" : "# DEL is best effort: each step runs even if the one before failed",
  ];
  // DEL runs the plugins in reverse order, as the runtime does.
  const order = o.command === "ADD" ? list.plugins : [...list.plugins].reverse();
  for (const [i, plugin] of order.entries()) {
    const type = String(plugin.type ?? "");
    const raw = { cniVersion: list.cniVersion, name: list.name, ...plugin };
    // The agent's conflists name our plugins patchcord-<name>.
    const ours = pluginFor(type);
    lines.push("", `# ${i + 1}. ${type}${ours ? "" : " (not a patchcord plugin: runs as its own executable, not explained)"}`);
    if (!ours) continue;
    try {
      lines.push(...(await explainPlugin(o.command, ours, raw, inv)).lines);
    } catch (e) {
      const msg = e instanceof CniError ? `error ${e.code}: ${e.message}` : (e as Error).message;
      lines.push(`# ${type} would fail here: ${msg}`, "exit 1");
      break;
    }
  }
  return lines;
}

export async function runExplain(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(EXPLAIN_USAGE);
    return 0;
  }
  let o: ExplainOptions;
  let list: Conflist;
  try {
    o = parseExplainArgs(args);
    list = readConflist(readFileSync(o.file, "utf8"));
  } catch (e) {
    console.error(`patchcord explain: ${(e as Error).message}\n${EXPLAIN_USAGE}`);
    return 2;
  }
  console.log((await explain(o, list)).join("\n"));
  return 0;
}
