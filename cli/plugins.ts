/**
 * The plugins the multi-call binary is, by name. Each is required on first use, so a run evaluates
 * only the modules of the plugin it is (the bundler keeps each module's body in a function until then).
 *
 * A node that already has the reference plugins (kind ships host-local, ptp, portmap, loopback;
 * minikube the whole set) gets ours as `patchcord-<name>` (the node agent installs them so), and
 * the binary answers to those names as well.
 */
export type Runner = (name: string) => Promise<number>;

export const PLUGINS: Record<string, () => Runner> = {
  bridge: () => require("../plugins/bridge/main").runBridge,
  "host-local": () => require("../plugins/host-local/main").runHostLocal,
  ipvlan: () => require("../plugins/ipvlan/main").runIpvlan,
  macvlan: () => require("../plugins/macvlan/main").runMacvlan,
  "veth-routed": () => require("../plugins/veth-routed/main").runVethRouted,
};

export const PREFIXED = "patchcord-";

export const pluginNames = (): string[] => Object.keys(PLUGINS);

/** The plugin an invocation name stands for (`bridge` or `patchcord-bridge`), or undefined. */
export function pluginFor(name: string): string | undefined {
  if (Object.hasOwn(PLUGINS, name)) return name;
  if (name.startsWith(PREFIXED) && Object.hasOwn(PLUGINS, name.slice(PREFIXED.length))) return name.slice(PREFIXED.length);
  return undefined;
}
