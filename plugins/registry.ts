import type { PluginIO } from "../shared/cni/skeleton";
import { inProcessPlugins } from "../shared/cni/in-process";
import { versionResponse } from "../shared/cni/versions";

/**
 * The plugins the multi-call binary is, by name. Each is required on first use, so a run evaluates
 * only the modules of the plugin it is (the bundler keeps each module's body in a function until then).
 * The command line (cli/) and the resident server (server/) both run plugins through here.
 *
 * A node that already has the reference plugins (kind ships host-local, ptp, portmap, loopback;
 * minikube the whole set) gets ours as `patchcord-<name>` (the node agent installs them so), and
 * the binary answers to those names as well.
 */
export type Runner = (name: string, io?: PluginIO) => Promise<number>;

export const PLUGINS: Record<string, () => Runner> = {
  bridge: () => require("./bridge/main").runBridge,
  "host-local": () => require("./host-local/main").runHostLocal,
  ipvlan: () => require("./ipvlan/main").runIpvlan,
  macvlan: () => require("./macvlan/main").runMacvlan,
  "veth-routed": () => require("./veth-routed/main").runVethRouted,
};

export const PREFIXED = "patchcord-";

export const pluginNames = (): string[] => Object.keys(PLUGINS);

/** The plugin an invocation name stands for (`bridge` or `patchcord-bridge`), or undefined. */
export function pluginFor(name: string): string | undefined {
  if (Object.hasOwn(PLUGINS, name)) return name;
  if (name.startsWith(PREFIXED) && Object.hasOwn(PLUGINS, name.slice(PREFIXED.length))) return name.slice(PREFIXED.length);
  return undefined;
}

// A delegated host-local that is this very executable runs in-process, under either of its names.
for (const name of ["host-local", `${PREFIXED}host-local`]) {
  inProcessPlugins[name] = (env, stdin) => require("./host-local/main").runHostLocalInProcess(env, stdin);
}

/**
 * Runs plugin `name` (as pluginFor gives it) for one invocation; VERSION is the same answer for
 * every plugin and is given before loading any plugin code. Without `io`, this process's own.
 */
export function runNamedPlugin(name: string, io?: PluginIO): Promise<number> {
  const env = io ? io.env : process.env;
  if (env.CNI_COMMAND === "VERSION") {
    if (io) io.stdout(versionResponse() + "\n");
    else console.log(versionResponse());
    return Promise.resolve(0);
  }
  return PLUGINS[name]()(name, io);
}
