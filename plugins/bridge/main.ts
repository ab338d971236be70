import { PluginIO, processIO, runPlugin } from "../../shared/cni/skeleton";
import { PATCHCORD_VERSION } from "../../shared/version";
import { bridgePlugin } from "./bridge";

/** Runs the bridge plugin as this process; resolves to the exit code. */
export const runBridge = (name = "bridge", io: PluginIO = processIO()): Promise<number> => runPlugin(bridgePlugin, { name, version: PATCHCORD_VERSION }, io);
