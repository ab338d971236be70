import type { Invocation } from "../../shared/cni/env";
import { configuredMtu } from "../../shared/plugin/mtu";
import type { DNS } from "../../shared/cni/result";
import { ipvlan as validateIpvlan } from "../../shared/schema/generated/validators";
import { validateConfig } from "../../shared/schema/validate";

export type IpvlanMode = "l2" | "l3" | "l3s";
export type IpvlanFlag = "bridge" | "private" | "vepa";

export interface IpvlanConfig {
  /** The parent link; undefined: prevResult's single interface when chained, else the default route's. */
  master?: string;
  mode: IpvlanMode;
  /** The kernel's ipvlan flag (patchcord's extension; the reference always gets `bridge`). */
  flag: IpvlanFlag;
  mtu: number;
  linkInContainer: boolean;
  ipamType?: string;
  dns?: DNS;
}

export function parseIpvlanConfig(raw: Record<string, unknown>, _inv: Invocation): IpvlanConfig {
  validateConfig(validateIpvlan, raw);
  const r = raw as { master?: string; mode?: IpvlanMode; flag?: IpvlanFlag; mtu?: number; linkInContainer?: boolean; ipam?: { type?: string }; dns?: DNS };
  return {
    master: r.master,
    mode: r.mode ?? "l2",
    flag: r.flag ?? "bridge",
    mtu: configuredMtu(r.mtu),
    linkInContainer: r.linkInContainer ?? false,
    ipamType: r.ipam?.type || undefined,
    dns: r.dns,
  };
}
