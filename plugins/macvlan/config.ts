import { CniError, ErrorCode } from "../../shared/cni/errors";
import { configuredMtu } from "../../shared/plugin/mtu";
import type { Invocation } from "../../shared/cni/env";
import type { DNS } from "../../shared/cni/result";
import { mac as isMac } from "../../shared/schema/formats";
import { macvlan as validateMacvlan } from "../../shared/schema/generated/validators";
import { validateConfig } from "../../shared/schema/validate";

export type MacvlanMode = "bridge" | "private" | "vepa" | "passthru";

export interface MacvlanConfig {
  /** The parent link; undefined: the interface of the default route. */
  master?: string;
  mode: MacvlanMode;
  /** 0: the master's. */
  mtu: number;
  bcqueuelen?: number;
  linkInContainer: boolean;
  /** Undefined for L2 only (the link comes up without addresses). */
  ipamType?: string;
  /** The result's `dns`, as the reference: the config's, not IPAM's. */
  dns?: DNS;
  /** config `mac`, then CNI_ARGS MAC, then runtimeConfig.mac (last wins, as the reference). */
  mac?: string;
}

/** Validates the config (the reference macvlan's keys) and fills in its defaults. */
export function parseMacvlanConfig(raw: Record<string, unknown>, inv: Invocation): MacvlanConfig {
  validateConfig(validateMacvlan, raw);
  const r = raw as {
    master?: string;
    mode?: MacvlanMode;
    mtu?: number;
    mac?: string;
    bcqueuelen?: number;
    linkInContainer?: boolean;
    ipam?: { type?: string };
    dns?: DNS;
    runtimeConfig?: { mac?: string };
  };
  let mac = r.mac;
  if (inv.args.MAC !== undefined) {
    if (!isMac(inv.args.MAC)) throw new CniError(ErrorCode.InvalidEnvironment, `CNI_ARGS MAC: must be a MAC address, got ${JSON.stringify(inv.args.MAC)}`);
    mac = inv.args.MAC;
  }
  mac = r.runtimeConfig?.mac ?? mac;
  return {
    master: r.master,
    mode: r.mode ?? "bridge",
    mtu: configuredMtu(r.mtu),
    bcqueuelen: r.bcqueuelen,
    linkInContainer: r.linkInContainer ?? false,
    ipamType: r.ipam?.type || undefined,
    dns: r.dns,
    mac: mac?.toLowerCase(),
  };
}
