import type { Invocation } from "../../shared/cni/env";
import { configuredMtu } from "../../shared/plugin/mtu";
import type { DNS } from "../../shared/cni/result";
import type { MasqBackend } from "../../shared/plugin/ipmasq";
import { vethRouted as validateVethRouted } from "../../shared/schema/generated/validators";
import { validateConfig } from "../../shared/schema/validate";

export interface VethRoutedConfig {
  ipamType: string;
  ipMasq: boolean;
  ipMasqBackend?: MasqBackend;
  /** 0: the kernel's default. */
  mtu: number;
  /** When the config has a `dns` key, it replaces the IPAM result's. */
  dns?: DNS;
}

/** Validates the config (the reference ptp's keys) and fills in its defaults. */
export function parseVethRoutedConfig(raw: Record<string, unknown>, _inv: Invocation): VethRoutedConfig {
  validateConfig(validateVethRouted, raw);
  const r = raw as { ipam: { type: string }; ipMasq?: boolean; ipMasqBackend?: MasqBackend; mtu?: number; dns?: DNS };
  return { ipamType: r.ipam.type, ipMasq: r.ipMasq ?? false, ipMasqBackend: r.ipMasqBackend, mtu: configuredMtu(r.mtu), dns: r.dns };
}
