import { PluginIO, processIO, runPlugin } from "../../shared/cni/skeleton";
import { PATCHCORD_VERSION } from "../../shared/version";
import { ipvlanPlugin } from "./ipvlan";

/** Runs the ipvlan plugin as this process; resolves to the exit code. */
export const runIpvlan = (name = "ipvlan", io: PluginIO = processIO()): Promise<number> => runPlugin(ipvlanPlugin, { name, version: PATCHCORD_VERSION }, io);
