import { readFileSync, unlinkSync } from "node:fs";
import { interfaceNameProblem } from "../shared/cni/names";
import { formatPrefix, networkOf, parsePrefix } from "../shared/net/ip";
import { checkDir, ensureDir, Log, removeLeftoverTemps, writeFileAtomic } from "./atomic-file";

export type { Log } from "./atomic-file";

/**
 * The node's CNI network config. Its name sorts before every other conflist (containerd uses the
 * first), and it contains neither "bridge" nor "podman", which minikube renames away.
 */
export const CONFLIST_NAME = "00-patchcord.conflist";
export const NETWORK_NAME = "patchcord";
const TEMP_PURPOSE = "conflist";

export interface ConflistSpec {
  mode: "veth-routed" | "bridge";
  /** 0: leave the kernel's default. */
  mtu: number;
  /** This node's pod CIDRs, one per family, in node.spec.podCIDRs order (the first is the primary family). */
  podCIDRs: string[];
  /** host-local's store; a tmpfs path (e.g. /run/...) drops leases with the node's reboot. */
  dataDir: string;
  /** Chain the reference portmap (hostPort) after our plugin. */
  portmap: boolean;
  bridgeName?: string;
}

const DEFAULT_ROUTE = { 4: "0.0.0.0/0", 6: "::/0" } as const;

function checkedPodCIDRs(cidrs: string[]): { subnet: string; family: 4 | 6 }[] {
  if (cidrs.length < 1 || cidrs.length > 2) throw new Error(`conflist: need one or two pod CIDRs (one per family), got ${cidrs.length}`);
  const out = cidrs.map((text) => {
    const p = parsePrefix(text);
    if (!p) throw new Error(`conflist: pod CIDR ${JSON.stringify(text)} is not a CIDR`);
    const subnet = formatPrefix({ ip: networkOf(p), bits: p.bits });
    if (subnet !== formatPrefix(p)) throw new Error(`conflist: pod CIDR ${text} has host bits set (the network is ${subnet})`);
    if (p.bits > (p.ip.family === 4 ? 30 : 126)) throw new Error(`conflist: pod CIDR ${text} is too small to hold pods`);
    return { subnet, family: p.ip.family };
  });
  if (out.length === 2 && out[0].family === out[1].family) throw new Error(`conflist: pod CIDRs ${cidrs.join(", ")} are of one family; dual stack needs one of each`);
  return out;
}

function checkedMtu(mtu: number, families: (4 | 6)[]): number {
  if (!Number.isInteger(mtu) || mtu < 0 || mtu > 65535) throw new Error(`conflist: MTU ${mtu} is not between 0 and 65535`);
  if (mtu !== 0 && mtu < (families.includes(6) ? 1280 : 576)) throw new Error(`conflist: MTU ${mtu} is too small${families.includes(6) ? " for IPv6 (1280)" : ""}`);
  return mtu;
}

/** The conflist's JSON text; the same spec always gives the same bytes. */
export function renderConflist(spec: ConflistSpec): string {
  const ranges = checkedPodCIDRs(spec.podCIDRs);
  const mtu = checkedMtu(spec.mtu, ranges.map((r) => r.family));
  const dataDir = checkDir(spec.dataDir, "IPAM data dir");
  const ipam = {
    type: "patchcord-host-local",
    dataDir,
    ranges: ranges.map((r) => [{ subnet: r.subnet }]),
    routes: ranges.map((r) => ({ dst: DEFAULT_ROUTE[r.family] })),
  };
  const mtuKey = mtu ? { mtu } : {};
  let main: Record<string, unknown>;
  if (spec.mode === "bridge") {
    const bridge = spec.bridgeName ?? "pc0";
    const problem = interfaceNameProblem(bridge);
    if (problem) throw new Error(`conflist: bridge name ${JSON.stringify(bridge)} ${problem}`);
    // hairpinMode: a pod reaching a Service that lands on itself gets the reply back through its own port.
    main = { type: "patchcord-bridge", bridge, isGateway: true, ipMasq: false, hairpinMode: true, ...mtuKey, ipam };
  } else if (spec.mode === "veth-routed") {
    main = { type: "patchcord-veth-routed", ipMasq: false, ...mtuKey, ipam };
  } else {
    throw new Error(`conflist: unknown mode ${JSON.stringify(spec.mode)}`);
  }
  const plugins = [main, ...(spec.portmap ? [{ type: "portmap", capabilities: { portMappings: true } }] : [])];
  return JSON.stringify({ cniVersion: "1.0.0", name: NETWORK_NAME, plugins }, null, 2) + "\n";
}

const readOrUndefined = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
};

/**
 * containerd fails the whole config load on a file that does not parse or has no plugins, and
 * ours sorts first: refuse to write such text rather than take the node's networking down.
 */
function checkConflistText(text: string): void {
  let parsed: { name?: unknown; plugins?: unknown };
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`conflist: not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(parsed.plugins) || parsed.plugins.length === 0) throw new Error("conflist: has no plugins");
  if (parsed.name !== NETWORK_NAME) throw new Error(`conflist: network name must be ${JSON.stringify(NETWORK_NAME)}`);
}

/** Writes the conflist when its content differs; returns whether it did. */
export async function writeConflist(confDir: string, text: string, log: Log): Promise<boolean> {
  const dir = checkDir(confDir, "CNI conf dir");
  checkConflistText(text);
  ensureDir(dir, log);
  removeLeftoverTemps(dir, TEMP_PURPOSE, log);
  const old = readOrUndefined(`${dir}/${CONFLIST_NAME}`);
  if (old === text) return false;
  writeFileAtomic(dir, CONFLIST_NAME, text, 0o644, TEMP_PURPOSE);
  log(`wrote ${dir}/${CONFLIST_NAME}: ${old === undefined ? "there was none" : "the node's network settings changed"}`);
  return true;
}

/** Our conflist is one whose network is named patchcord; a file of that name with another network is left. */
export function isOurConflist(text: string): boolean {
  try {
    return (JSON.parse(text) as { name?: unknown }).name === NETWORK_NAME;
  } catch {
    return false;
  }
}

/** Removes our conflist (and temp files of ours); returns whether there was one to remove. */
export async function removeConflist(confDir: string, log: Log): Promise<boolean> {
  const dir = checkDir(confDir, "CNI conf dir");
  removeLeftoverTemps(dir, TEMP_PURPOSE, log);
  const path = `${dir}/${CONFLIST_NAME}`;
  const text = readOrUndefined(path);
  if (text === undefined) return false;
  if (!isOurConflist(text)) {
    log(`left ${path}: its network is not ${JSON.stringify(NETWORK_NAME)}, so it is not ours`);
    return false;
  }
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
  log(`removed ${path}: uninstalling patchcord`);
  return true;
}
