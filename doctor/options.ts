import { eachArg } from "../cli/args";
import { FINDINGS } from "./finding";

export interface DoctorOptions {
  /** The node's network namespace as a path; undefined: doctor's own. */
  netns?: string;
  confDir: string;
  binDirs: string[];
  /** The runtime's cache (libcni's results/), where the pods' namespaces are recorded. */
  cacheDir: string;
  /** The node agent's state file (its view of the other nodes' podCIDRs); default: in its conflist's IPAM data dir. */
  agentState?: string;
  pods: string[];
  probe?: [string, string];
  json: boolean;
  help: boolean;
}

export const DEFAULTS = {
  confDir: "/etc/cni/net.d",
  binDir: "/opt/cni/bin",
  cacheDir: "/var/lib/cni",
};

export const DOCTOR_USAGE = [
  "usage: patchcord doctor [--netns NODE_NETNS] [--conf-dir DIR] [--bin-dir DIR] [--cache-dir DIR]",
  "                        [--agent-state FILE] [--pod NETNS ...] [--probe POD_A POD_B] [--json]",
  "Looks at a node's pod networking the way a person hunts a broken ping (routes both ways,",
  "ip_forward, gateways, rp_filter, NAT, MTU, the IPAM store) and prints what is wrong, the",
  "commands that show it and the commands that would mend it. It changes nothing; --probe sends",
  "pings between two pods and reads the counters on the way.",
  "  --netns NODE_NETNS  the node's network namespace: a path, or a name under /run/netns (default: this one)",
  `  --conf-dir DIR      the runtime's CNI config dir (default ${DEFAULTS.confDir})`,
  `  --bin-dir DIR       the runtime's CNI plugin dir, repeatable (default ${DEFAULTS.binDir})`,
  `  --cache-dir DIR     the runtime's CNI cache, holding each pod's namespace (default ${DEFAULTS.cacheDir})`,
  "  --agent-state FILE  the node agent's state (default: agent-state.json in its conflist's ipam.dataDir)",
  "  --pod NETNS         also look inside this pod namespace (a path or a name), repeatable",
  "  --probe A B         ping from pod namespace A to pod namespace B and say where the packet died",
  "  --json              one JSON document: {\"findings\": [{\"id\", \"message\", \"evidence\", \"fix\"}, ...], ...}",
  "Exit status: 0 nothing wrong, 1 something wrong, 2 doctor could not look. Findings:",
  ...Object.entries(FINDINGS).map(([id, what]) => `  ${id.padEnd(21)} ${what}`),
].join("\n");

/** A namespace given as a name (as `ip netns` and the lab name them) or as a path. */
export function netnsPath(text: string): string {
  if (text.startsWith("/")) return text;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/.test(text) || text === "." || text === "..") throw new Error(`${JSON.stringify(text)} is neither a path nor a network namespace name`);
  return `/run/netns/${text}`;
}

const absolute = (flag: string, v: string): string => {
  if (!v.startsWith("/")) throw new Error(`${flag} needs an absolute path, got ${JSON.stringify(v)}`);
  if (/[\0-\x1f\x7f]/.test(v)) throw new Error(`${flag} must not contain control characters`);
  return v;
};

export function parseDoctorArgs(args: string[]): DoctorOptions {
  const o: DoctorOptions = { confDir: DEFAULTS.confDir, binDirs: [], cacheDir: DEFAULTS.cacheDir, pods: [], json: false, help: false };
  eachArg(args, (a, value) => {
    if (a === "--json") o.json = true;
    else if (a === "--help" || a === "-h") o.help = true;
    else if (a === "--netns") o.netns = netnsPath(value());
    else if (a === "--conf-dir") o.confDir = absolute(a, value());
    else if (a === "--bin-dir") o.binDirs.push(...value().split(":").map((d) => absolute(a, d)));
    else if (a === "--cache-dir") o.cacheDir = absolute(a, value());
    else if (a === "--agent-state") o.agentState = absolute(a, value());
    else if (a === "--pod") o.pods.push(netnsPath(value()));
    else if (a === "--probe") o.probe = [netnsPath(value()), netnsPath(value())];
    else throw new Error(`unknown argument ${JSON.stringify(a)}`);
  });
  if (!o.binDirs.length) o.binDirs.push(DEFAULTS.binDir);
  for (const p of [o.netns, ...o.pods, ...(o.probe ?? [])]) if (p && /[\0-\x1f\x7f]/.test(p)) throw new Error("a namespace path must not contain control characters");
  return o;
}
