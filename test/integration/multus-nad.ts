import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { pluginNames, PREFIXED } from "../../plugins/registry";
import { BIN, CNITOOL, execPlugin, PluginRun, ROOT } from "./helpers";
import { NetLab } from "./netlab";
export { CNITOOL };

/**
 * What the Multus tests share: the CNI config inside a NetworkAttachmentDefinition of
 * manifests/multus, and a node as Multus would drive it (dist/cnitool on libcni, the plugins found
 * under their installed names patchcord-<name> in CNI_PATH).
 */
export const MULTUS_DIR = join(ROOT, "manifests/multus");
export const haveCnitool = existsSync(CNITOOL);

export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: ({ type: string; master?: string; ipam?: { type: string; dataDir?: string; ranges?: { subnet: string; rangeStart?: string; rangeEnd?: string }[][] } } & Record<string, unknown>)[];
}

/** The NetworkAttachmentDefinition in a file of manifests/multus, and its spec.config parsed. */
export function readNad(file: string): { name: string; config: Conflist } {
  const doc = parse(readFileSync(join(MULTUS_DIR, file), "utf8")) as { apiVersion: string; kind: string; metadata: { name: string }; spec: { config: string } };
  if (doc.apiVersion !== "k8s.cni.cncf.io/v1" || doc.kind !== "NetworkAttachmentDefinition") throw new Error(`${file}: not a NetworkAttachmentDefinition`);
  return { name: doc.metadata.name, config: JSON.parse(doc.spec.config) as Conflist };
}

/** The config with this test node's master and a temporary IPAM store instead of the real node's. */
export function onTestNode(config: Conflist, master: string, dataDir: string): Conflist {
  const copy = JSON.parse(JSON.stringify(config)) as Conflist;
  for (const p of copy.plugins) {
    if ("master" in p) p.master = master;
    if (p.ipam) p.ipam.dataDir = dataDir;
  }
  return copy;
}

/** An address's place in its IPv4 range set: is a.b.c.d/len within [rangeStart, rangeEnd]? */
export function inRange(address: string, range: { subnet: string; rangeStart?: string; rangeEnd?: string }): boolean {
  const n = (ip: string) => ip.split(".").reduce((v, o) => v * 256 + Number(o), 0);
  const [ip, len] = address.split("/");
  const [net, bits] = range.subnet.split("/");
  const start = range.rangeStart ? n(range.rangeStart) : n(net) + 1;
  const end = range.rangeEnd ? n(range.rangeEnd) : n(net) + 2 ** (32 - Number(bits)) - 2;
  return len === bits && n(ip) >= start && n(ip) <= end;
}

/** A throwaway CNI setup: conf dir, result cache, IPAM store and a CNI_PATH of patchcord-* links. */
export class MultusNode {
  readonly dir = mkdtempSync(join(tmpdir(), "pc-multus-"));
  readonly confDir = join(this.dir, "net.d");
  readonly cacheDir = join(this.dir, "cache");
  readonly dataDir = join(this.dir, "ipam");
  readonly cniPath = join(this.dir, "bin");

  constructor(readonly nodeNetns: string) {
    for (const d of [this.confDir, this.cacheDir, this.dataDir, this.cniPath]) mkdirSync(d);
    // The node agent installs the binary under these names; it answers to them (cli/plugins.ts).
    for (const name of pluginNames()) symlinkSync(join(BIN, "patchcord"), join(this.cniPath, `${PREFIXED}${name}`));
  }

  writeConflist(config: Conflist): void {
    writeFileSync(join(this.confDir, `${config.name}.conflist`), JSON.stringify(config));
  }

  /** `cnitool add|del NETWORK NETNS` in the node namespace, with the interface name Multus gives. */
  cnitool(command: "add" | "check" | "del", network: string, netns: string, ifname = "net1"): Promise<PluginRun> {
    const env = { NETCONFPATH: this.confDir, CNI_CACHE_DIR: this.cacheDir, CNI_PATH: this.cniPath, CNI_IFNAME: ifname };
    return execPlugin(CNITOOL, env, "", ["ip", "netns", "exec", this.nodeNetns], [command, network, netns]);
  }

  /** Addresses reserved in the IPAM store of a network. */
  reservations(network: string): string[] {
    const dir = join(this.dataDir, network);
    return existsSync(dir) ? readdirSync(dir).filter((f) => /^[0-9a-f]/.test(f) && !f.startsWith("last_reserved_ip")) : [];
  }

  /** Files libcni keeps for attachments (results/); empty once every attachment is deleted. */
  cachedResults(): string[] {
    const dir = join(this.cacheDir, "results");
    return existsSync(dir) ? readdirSync(dir) : [];
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A throwaway node namespace and a MultusNode on it for one test file (made in beforeAll, removed after). */
export function multusNodePerFile(lab: NetLab, isRoot: boolean): { node(): MultusNode } {
  let node: MultusNode | undefined;
  beforeAll(async () => {
    if (!isRoot) return;
    await lab.create();
    node = new MultusNode(lab.node);
  });
  afterAll(async () => {
    await lab.destroy();
    node?.remove();
  });
  return { node: () => node! };
}
