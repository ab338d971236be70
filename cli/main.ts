import { SUPPORTED_VERSIONS } from "../shared/cni/versions";
import { BINARY_TAGLINE, PATCHCORD_VERSION } from "../shared/version";
import { pluginFor, pluginNames, runNamedPlugin } from "../plugins/registry";
import type { AgentMain } from "./agent-loader";

/**
 * The multi-call binary: one executable, installed once and linked under each plugin's name.
 * It dispatches on the name it was invoked as (argv[0]), never on the config's `type`, because a
 * delegated IPAM plugin receives its parent's config.
 */

/** Subcommands of `patchcord` beside the plugin names, loaded on first use too. */
const SUBCOMMANDS: Record<string, () => (args: string[]) => Promise<number>> = {
  lab: () => require("../lab/lab").runLab,
  explain: () => require("../explain/explain").runExplain,
  doctor: () => require("../doctor/doctor").runDoctor,
  serve: () => (args) => require("../server/serve").runServe(args, usage),
  agent: () => async (args) => {
    let runAgent: AgentMain;
    try {
      runAgent = await require("./agent-loader").loadAgent();
    } catch (e) {
      console.error(`patchcord: ${(e as Error).message}`); // e.g. the Node SEA build, which has no agent
      return 2;
    }
    // The agent runs the resident server of this bundle (its own bundle has no plugins).
    return runAgent(args, { serve: (o) => require("../server/server").startServer({ ...o, usage }) });
  },
};

function usage(): string {
  return [
    `patchcord ${PATCHCORD_VERSION}: ${BINARY_TAGLINE} (CNI spec ${SUPPORTED_VERSIONS.join(", ")})`,
    `Link or copy it under a plugin's name and run it as a CNI plugin: ${pluginNames().join(", ")}`,
    "Or run a plugin by name: patchcord PLUGIN (with CNI_COMMAND and the config on stdin)",
    "patchcord lab [--help]: the article's topologies wired by the plugins, checked, explained, removed",
    "patchcord explain CONFLIST [--command ADD|DEL] [--netns PATH] [--ifname NAME] [--container-id ID]:",
    "  what a plugin run would do to the kernel, as a shell script, without doing it",
    "patchcord doctor [--netns NODE] [--pod NETNS ...] [--probe A B] [--json] [--help]:",
    "  why a pod's network does not work: findings with evidence and fixes, changing nothing",
    "patchcord agent [--help]: the Kubernetes node agent (installs the plugins, writes the conflist, routes to other nodes)",
    "patchcord serve [--socket PATH] [--help]: the resident CNI server the shims hand their calls to",
  ].join("\n");
}

export async function main(argv0: string, args: string[]): Promise<number> {
  const invokedAs = argv0.slice(argv0.lastIndexOf("/") + 1);
  let name = pluginFor(invokedAs);
  if (!name && invokedAs.startsWith("patchcord")) {
    const sub = args[0];
    if (sub && Object.hasOwn(SUBCOMMANDS, sub)) return SUBCOMMANDS[sub]()(args.slice(1));
    if (sub && pluginFor(sub)) name = pluginFor(sub);
    else if (sub === "--version" || sub === "version") {
      console.log(`patchcord ${PATCHCORD_VERSION}`);
      return 0;
    } else {
      console.error(usage());
      return sub === undefined || sub === "--help" || sub === "help" ? 0 : 2;
    }
  }
  if (!name) {
    console.error(`patchcord: unknown plugin name ${JSON.stringify(invokedAs)}\n${usage()}`);
    return 2;
  }
  return runNamedPlugin(name);
}
