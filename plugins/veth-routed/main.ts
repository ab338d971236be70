import { PluginIO, processIO, runPlugin } from "../../shared/cni/skeleton";
import { PATCHCORD_VERSION } from "../../shared/version";
import { vethRoutedPlugin } from "./veth-routed";

/** Runs the veth-routed plugin as this process; resolves to the exit code. */
export const runVethRouted = (name = "veth-routed", io: PluginIO = processIO()): Promise<number> => runPlugin(vethRoutedPlugin, { name, version: PATCHCORD_VERSION }, io);
