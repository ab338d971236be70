import { processIO, runPlugin } from "../../shared/cni/skeleton";
import { PATCHCORD_VERSION } from "../../shared/version";
import { hostLocalPlugin } from "./host-local";

/** Runs host-local as this process; resolves to the exit code. */
export const runHostLocal = (name = "host-local"): Promise<number> =>
  runPlugin(hostLocalPlugin, { name, version: PATCHCORD_VERSION }, processIO());
