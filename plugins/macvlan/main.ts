import { PluginIO, processIO, runPlugin } from "../../shared/cni/skeleton";
import { PATCHCORD_VERSION } from "../../shared/version";
import { macvlanPlugin } from "./macvlan";

/** Runs the macvlan plugin as this process; resolves to the exit code. */
export const runMacvlan = (name = "macvlan", io: PluginIO = processIO()): Promise<number> => runPlugin(macvlanPlugin, { name, version: PATCHCORD_VERSION }, io);
