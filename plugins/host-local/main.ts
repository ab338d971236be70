import type { InProcessRunner } from "../../shared/cni/delegate";
import { PluginIO, processIO, runPlugin } from "../../shared/cni/skeleton";
import { PATCHCORD_VERSION } from "../../shared/version";
import { hostLocalPlugin } from "./host-local";

/** Runs host-local as this process; resolves to the exit code. */
export const runHostLocal = (name = "host-local", io: PluginIO = processIO()): Promise<number> =>
  runPlugin(hostLocalPlugin, { name, version: PATCHCORD_VERSION }, io);

/** host-local as a delegate inside a parent plugin's process: same code, output captured. */
export const runHostLocalInProcess: InProcessRunner = async (env, stdin) => {
  let stdout = "";
  let stderr = "";
  const io: PluginIO = { env, readStdin: async () => stdin, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) };
  const code = await runPlugin(hostLocalPlugin, { name: "host-local", version: PATCHCORD_VERSION }, io);
  return { code, stdout, stderr };
};
