import { join } from "node:path";
import type { Conflist } from "../shared/cni/conflist";
import type { World } from "./world";


/** What one ADD did: its result and the commands it amounts to (the plugins' trace). */
export interface Invocation {
  pod: string;
  script: string[];
  result: Record<string, unknown>;
}

/** Drops the trace's timing lines: the commands and comments are what a person reads. */
export const traceScript = (trace: string): string[] => trace.split("\n").filter((l) => l !== "" && !/^# \+[0-9.]+ ms/.test(l) && l !== "# config read and validated");

/**
 * The cnitool driver (conformance/cnitool, on libcni): the lab wires pods exactly as a runtime
 * does, from a conflist in NETCONFPATH, with patchcord's plugins first in CNI_PATH. It runs inside
 * the scene's node namespace, so the node's side of everything stays in that namespace.
 */
export class Driver {
  constructor(
    private readonly world: World,
    private readonly cnitool: string,
    private readonly cniPath: string[],
  ) {}

  private confDir(node: string): string {
    return join(this.world.dir, node, "net.d");
  }

  install(node: string, list: Conflist): void {
    this.world.writeFile(join(node, "net.d", `${list.name}.conflist`), JSON.stringify(list, null, 2));
  }

  /** `cnitool add NETWORK` for `pod`, in the node namespace, traced. (Teardown deletes namespaces, so the lab never needs DEL.) */
  async add(node: string, network: string, pod: string, ifname = "eth0"): Promise<Invocation> {
    const trace = this.world.traceFile();
    const env = {
      PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
      NETCONFPATH: this.confDir(node),
      CNI_PATH: this.cniPath.join(":"),
      CNI_CACHE_DIR: join(this.world.dir, node, "cache"),
      CNI_IFNAME: ifname,
      CNI_CONTAINERID: pod,
      PATCHCORD_TRACE: trace,
    };
    const argv = ["ip", "netns", "exec", node, "env", ...Object.entries(env).map(([k, v]) => `${k}=${v}`), this.cnitool, "add", network, `/run/netns/${pod}`];
    const r = await this.world.sh(argv, { quiet: true, allowFail: true });
    if (r.code !== 0) throw new Error(`cnitool add ${network} for ${pod} failed: ${r.stdout.trim() || r.stderr.trim()}`);
    return { pod, script: traceScript(this.world.readText(trace)), result: JSON.parse(r.stdout) as Record<string, unknown> };
  }

  /** The pod's first address (without prefix) from an ADD result. */
  static address(inv: Invocation, family: 4 | 6 = 4): string {
    const ips = (inv.result.ips ?? []) as { address: string }[];
    const found = ips.map((i) => i.address.split("/")[0]).find((a) => (family === 4 ? !a.includes(":") : a.includes(":")));
    if (!found) throw new Error(`no IPv${family} address in the result for ${inv.pod}`);
    return found;
  }
}
