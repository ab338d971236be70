import { CniError, ErrorCode } from "../../shared/cni/errors";
import { configuredMtu } from "../../shared/plugin/mtu";
import type { Invocation } from "../../shared/cni/env";
import type { DNS } from "../../shared/cni/result";
import { bridge as validateBridge } from "../../shared/schema/generated/validators";
import { validateConfig } from "../../shared/schema/validate";
import { mac as isMac } from "../../shared/schema/formats";

export interface BridgeConfig {
  bridge: string;
  isGateway: boolean;
  isDefaultGateway: boolean;
  forceAddress: boolean;
  ipMasq: boolean;
  ipMasqBackend?: "iptables" | "nftables";
  /** 0: the kernel's default. */
  mtu: number;
  hairpinMode: boolean;
  promiscMode: boolean;
  /** Access VLAN of the pod's port; 0: none. */
  vlan: number;
  /** Tagged VLAN ids of the pod's port. */
  trunk: number[];
  preserveDefaultVlan: boolean;
  macspoofchk: boolean;
  enabledad: boolean;
  disableContainerInterface: boolean;
  portIsolation: boolean;
  /** The IPAM plugin's type; undefined for a pure L2 network. */
  ipamType?: string;
  /** When the config has a `dns` key, it replaces the IPAM result's. */
  dns?: DNS;
  /** The container MAC asked for: CNI_ARGS MAC, then args.cni.mac, then runtimeConfig.mac (last wins). */
  mac?: string;
}

interface Raw {
  bridge?: string;
  isGateway?: boolean;
  isDefaultGateway?: boolean;
  forceAddress?: boolean;
  ipMasq?: boolean;
  ipMasqBackend?: "iptables" | "nftables";
  mtu?: number;
  hairpinMode?: boolean;
  promiscMode?: boolean;
  vlan?: number;
  vlanTrunk?: { id?: number; minID?: number; maxID?: number }[];
  preserveDefaultVlan?: boolean;
  macspoofchk?: boolean;
  enabledad?: boolean;
  disableContainerInterface?: boolean;
  portIsolation?: boolean;
  ipam?: { type?: string };
  dns?: DNS;
  args?: { cni?: { mac?: string } };
  runtimeConfig?: { mac?: string };
}

const invalid = (msg: string): never => {
  throw new CniError(ErrorCode.InvalidNetworkConfig, msg);
};

function trunkIds(trunk: Raw["vlanTrunk"]): number[] {
  const ids = new Set<number>();
  (trunk ?? []).forEach((t, i) => {
    const where = `vlanTrunk[${i}]`;
    if (t.id !== undefined) {
      if (t.minID !== undefined || t.maxID !== undefined) invalid(`${where}: give either id or minID and maxID, not both`);
      ids.add(t.id);
      return;
    }
    if (t.minID === undefined || t.maxID === undefined) invalid(`${where}: minID and maxID must be given together`);
    if (t.minID! > t.maxID!) invalid(`${where}: minID ${t.minID} is greater than maxID ${t.maxID}`);
    for (let id = t.minID!; id <= t.maxID!; id++) ids.add(id);
  });
  return [...ids].sort((a, b) => a - b);
}

function requestedMac(raw: Raw, inv: Invocation): string | undefined {
  let mac: string | undefined;
  if (inv.args.MAC !== undefined) {
    if (!isMac(inv.args.MAC)) {
      throw new CniError(ErrorCode.InvalidEnvironment, `CNI_ARGS MAC: must be a MAC address, got ${JSON.stringify(inv.args.MAC)}`);
    }
    mac = inv.args.MAC;
  }
  mac = raw.args?.cni?.mac ?? mac;
  mac = raw.runtimeConfig?.mac ?? mac;
  return mac?.toLowerCase();
}

/** Validates the bridge config and fills in the reference defaults. */
export function parseBridgeConfig(rawConfig: Record<string, unknown>, inv: Invocation): BridgeConfig {
  validateConfig(validateBridge, rawConfig);
  const raw = rawConfig as Raw;
  const ipamType = raw.ipam?.type || undefined;
  if (raw.hairpinMode && raw.promiscMode) invalid("hairpinMode and promiscMode cannot both be set");
  if (raw.disableContainerInterface && ipamType) invalid("disableContainerInterface cannot be used with IPAM (the interface stays down)");
  const isDefaultGateway = raw.isDefaultGateway ?? false;
  return {
    bridge: raw.bridge ?? "cni0",
    isGateway: (raw.isGateway ?? false) || isDefaultGateway,
    isDefaultGateway,
    forceAddress: raw.forceAddress ?? false,
    ipMasq: raw.ipMasq ?? false,
    ipMasqBackend: raw.ipMasqBackend,
    mtu: configuredMtu(raw.mtu),
    hairpinMode: raw.hairpinMode ?? false,
    promiscMode: raw.promiscMode ?? false,
    vlan: raw.vlan ?? 0,
    trunk: trunkIds(raw.vlanTrunk),
    preserveDefaultVlan: raw.preserveDefaultVlan ?? false,
    macspoofchk: raw.macspoofchk ?? false,
    enabledad: raw.enabledad ?? false,
    disableContainerInterface: raw.disableContainerInterface ?? false,
    portIsolation: raw.portIsolation ?? false,
    ipamType,
    dns: raw.dns,
    mac: requestedMac(raw, inv),
  };
}
