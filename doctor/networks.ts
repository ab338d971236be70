import type { Conflist } from "../shared/cni/conflist";
import type { IP, Prefix } from "../shared/net/ip";
import { masqBackend, MasqBackend } from "../shared/plugin/ipmasq";
import { pluginFor } from "../plugins/registry";
import { parseBridgeConfig } from "../plugins/bridge/config";
import { HostLocalConfig, parseHostLocalConfig } from "../plugins/host-local/config";
import { rangeFor } from "../plugins/host-local/range-set";
import { parseVethRoutedConfig } from "../plugins/veth-routed/config";
import { ConfFile, SAMPLE_INVOCATION } from "./conflists";

export type NetworkKind = "bridge" | "veth-routed" | "macvlan" | "ipvlan";

/** One network of the conf dir whose main plugin is one of ours: what it sets up, as doctor needs it. */
export interface Network {
  file: string;
  name: string;
  /** The runtime's pick (the first config by name). */
  picked: boolean;
  kind: NetworkKind;
  /** bridge: the bridge's name and whether the node is the pods' gateway on it. */
  bridge?: string;
  isGateway: boolean;
  ipMasq: boolean;
  masqBackend?: MasqBackend;
  /** host-local's view (ours or the reference's: the store is the same). */
  ipam?: HostLocalConfig;
}

/** The networks doctor can check: valid configs whose first interface plugin is ours. */
export function networksOf(files: ConfFile[]): Network[] {
  const out: Network[] = [];
  for (const f of files) {
    if (!f.list || f.problem) continue;
    const net = networkOf(f.list, f.path, f === files[0]);
    if (net) out.push(net);
  }
  return out;
}

function networkOf(list: Conflist, file: string, picked: boolean): Network | undefined {
  for (const plugin of list.plugins) {
    const kind = pluginFor(String(plugin.type));
    if (kind !== "bridge" && kind !== "veth-routed" && kind !== "macvlan" && kind !== "ipvlan") continue;
    const raw = { cniVersion: list.cniVersion, name: list.name, ...plugin };
    const ipamType = (plugin.ipam as Record<string, unknown> | undefined)?.type;
    const ipam = typeof ipamType === "string" && pluginFor(ipamType) === "host-local" ? parseHostLocalConfig(raw, SAMPLE_INVOCATION) : undefined;
    const net: Network = { file, name: list.name, picked, kind, isGateway: false, ipMasq: false, ipam };
    if (kind === "bridge") {
      const cfg = parseBridgeConfig(raw, SAMPLE_INVOCATION);
      Object.assign(net, { bridge: cfg.bridge, isGateway: cfg.isGateway, ipMasq: cfg.ipMasq, masqBackend: cfg.ipMasq ? masqBackend(cfg.ipMasqBackend) : undefined });
    } else if (kind === "veth-routed") {
      const cfg = parseVethRoutedConfig(raw, SAMPLE_INVOCATION);
      // The node is every pod's gateway: its host veth carries the gateway address.
      Object.assign(net, { isGateway: true, ipMasq: cfg.ipMasq, masqBackend: cfg.ipMasq ? masqBackend(cfg.ipMasqBackend) : undefined });
    }
    return net;
  }
  return undefined;
}

/** An address host-local gave out, with the prefix and gateway of its range. */
export interface PodAddress {
  ip: IP;
  prefix: Prefix;
  gateway: IP;
}

/** The range of `net` holding `ip`, as the pod's address (undefined when no range holds it). */
export function podAddress(net: Network, ip: IP): PodAddress | undefined {
  for (const set of net.ipam?.rangeSets ?? []) {
    const range = rangeFor(set, ip);
    if (range) return { ip, prefix: { ip, bits: range.subnet.bits }, gateway: range.gateway };
  }
  return undefined;
}
