/**
 * Runs agent node functions inside whatever network namespace it is started in (the tests start it
 * with `ip netns exec NS bun agent-node-driver.ts CALLS`), so the functions run exactly as in the
 * agent: in the current namespace, with no namespace options. CALLS is a JSON list of
 * {fn, args}; they run in order in this one process (so state such as "already logged" carries
 * over), and the output is one JSON list of {result, logs, error}.
 */
import { installPlugins } from "../../agent/install";
import { removeMasquerade, syncMasquerade } from "../../agent/masquerade";
import { removeAllRoutes, syncRoutes } from "../../agent/routes";
import { uninstall } from "../../agent/uninstall";
import { uplinkMtu } from "../../agent/uplink";

type Log = (line: string) => void;
/* eslint-disable @typescript-eslint/no-explicit-any */
const FUNCTIONS: Record<string, (args: any, log: Log) => Promise<unknown>> = {
  syncRoutes: (a, log) => syncRoutes(a.desired, log),
  removeAllRoutes: (_a, log) => removeAllRoutes(log),
  syncMasquerade: (a, log) => syncMasquerade(a.spec, log),
  removeMasquerade: (_a, log) => removeMasquerade(log),
  uplinkMtu: (a) => uplinkMtu(a.ips),
  uninstall: (a, log) => uninstall({ ...a, log }),
  installPlugins: (a, log) => installPlugins({ ...a, log }),
};

async function main(): Promise<void> {
  const calls = JSON.parse(process.argv[2]) as { fn: string; args?: unknown }[];
  const out: { result?: unknown; logs: string[]; error?: string }[] = [];
  for (const { fn, args } of calls) {
    const logs: string[] = [];
    try {
      out.push({ result: await FUNCTIONS[fn](args ?? {}, (l) => logs.push(l)), logs });
    } catch (e) {
      out.push({ logs, error: (e as Error).message });
    }
  }
  process.stdout.write(JSON.stringify(out));
}

void main();
