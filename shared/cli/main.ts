import { basename } from "node:path";
import { runBridge } from "../../plugins/bridge/main";
import { runHostLocal, runHostLocalInProcess } from "../../plugins/host-local/main";
import { inProcessPlugins } from "../cni/delegate";
import { SUPPORTED_VERSIONS } from "../cni/versions";
import { PATCHCORD_VERSION } from "../version";

/**
 * The multi-call binary: one executable, installed once and linked under each plugin's name.
 * It dispatches on the name it was invoked as (argv[0]), never on the config's `type`, because a
 * delegated IPAM plugin receives its parent's config.
 */
const PLUGINS: Record<string, (name: string) => Promise<number>> = {
  bridge: runBridge,
  "host-local": runHostLocal,
};

export const pluginNames = (): string[] => Object.keys(PLUGINS);

function usage(): string {
  return [
    `patchcord ${PATCHCORD_VERSION}: CNI plugins as one multi-call binary (CNI spec ${SUPPORTED_VERSIONS.join(", ")})`,
    `Link or copy it under a plugin's name and run it as a CNI plugin: ${pluginNames().join(", ")}`,
    "Or run a plugin by name: patchcord PLUGIN (with CNI_COMMAND and the config on stdin)",
  ].join("\n");
}

export async function main(argv0: string, args: string[]): Promise<number> {
  inProcessPlugins["host-local"] = runHostLocalInProcess;
  let name = basename(argv0);
  if (!PLUGINS[name] && (name === "patchcord" || name.startsWith("patchcord"))) {
    const sub = args[0];
    if (sub && PLUGINS[sub]) name = sub;
    else if (sub === "--version" || sub === "version") {
      process.stdout.write(`patchcord ${PATCHCORD_VERSION}\n`);
      return 0;
    } else {
      process.stderr.write(usage() + "\n");
      return sub === undefined || sub === "--help" || sub === "help" ? 0 : 2;
    }
  }
  const run = PLUGINS[name];
  if (!run) {
    process.stderr.write(`patchcord: unknown plugin name ${JSON.stringify(name)}\n${usage()}\n`);
    return 2;
  }
  return run(name);
}
