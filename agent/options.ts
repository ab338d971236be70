import { hostname } from "node:os";
import { absolutePathProblem } from "../shared/cni/names";
import { formatIP, networkOf, parsePrefix } from "../shared/net/ip";

/**
 * `patchcord agent` options: each flag has an environment equivalent (the DaemonSet sets env from
 * the downward API and from the ConfigMap with envFrom), a flag wins over its variable, and every
 * value is checked before anything runs: a bad one is a message and exit status 2.
 */

export type Mode = "veth-routed" | "bridge";

export interface Directories {
  cniBinDir: string;
  cniConfDir: string;
  ipamDataDir: string;
}

export interface AgentOptions extends Directories {
  /** Outside a cluster; absent means in-cluster config (service account). */
  kubeconfig?: string;
  nodeName: string;
  resyncSeconds: number;
  health: { host: string; port: number };
  mode: Mode;
  /** 0: the uplink's MTU. */
  mtu: number;
  masquerade: boolean;
  /** Extra destinations that are not masqueraded, beside every node's podCIDRs. */
  clusterCIDRs: string[];
  /** Replaces the server URL of the kubeconfig or in-cluster config. */
  apiServer?: string;
  /** Where the agent's resident CNI server listens; undefined: it runs none. */
  socket?: string;
}

export type ParsedArgs =
  | { command: "help" }
  | { command: "run"; options: AgentOptions }
  | { command: "uninstall"; options: Directories }
  | { command: "error"; message: string };

export const DEFAULTS = {
  cniBinDir: "/opt/cni/bin",
  cniConfDir: "/etc/cni/net.d",
  // tmpfs: host-local's reservations must not outlive a reboot, or the range fills with ghosts.
  ipamDataDir: "/run/patchcord/ipam",
  resyncSeconds: 30,
  healthAddr: "127.0.0.1:9790",
  socket: "/run/patchcord/cni.sock",
};

interface Setting {
  flag: string;
  env: string;
  key: string;
  /** Also accepted by `agent uninstall`. */
  directory?: boolean;
}

const FLAG_SETTINGS: Setting[] = [
  { flag: "--kubeconfig", env: "KUBECONFIG", key: "kubeconfig" },
  { flag: "--node-name", env: "NODE_NAME", key: "nodeName" },
  { flag: "--cni-bin-dir", env: "CNI_BIN_DIR", key: "cniBinDir", directory: true },
  { flag: "--cni-conf-dir", env: "CNI_CONF_DIR", key: "cniConfDir", directory: true },
  { flag: "--ipam-data-dir", env: "PATCHCORD_IPAM_DATA_DIR", key: "ipamDataDir", directory: true },
  { flag: "--resync", env: "PATCHCORD_RESYNC", key: "resync" },
  { flag: "--health-addr", env: "PATCHCORD_HEALTH_ADDR", key: "healthAddr" },
  { flag: "--socket", env: "PATCHCORD_SOCKET", key: "socket" },
];

/** The ConfigMap's keys: environment only. */
const ENV_SETTINGS = ["PATCHCORD_MODE", "PATCHCORD_MTU", "PATCHCORD_MASQUERADE", "PATCHCORD_CLUSTER_CIDRS", "PATCHCORD_API_SERVER"];

export function usage(): string {
  return [
    "patchcord agent: the Kubernetes node agent. Installs the plugins into the CNI bin dir, writes the",
    "conflist once the node has a podCIDR, routes other nodes' podCIDRs via their InternalIPs and",
    "masquerades pod traffic leaving the cluster. Stopping it (SIGTERM) removes nothing.",
    "",
    "  patchcord agent [FLAGS]",
    "  patchcord agent uninstall [--cni-bin-dir DIR] [--cni-conf-dir DIR] [--ipam-data-dir DIR]",
    "",
    "Flags (environment variable in brackets; a flag wins):",
    "  --kubeconfig FILE        [KUBECONFIG] outside a cluster; default: in-cluster service account",
    "  --node-name NAME         [NODE_NAME] this node's name (default: the host name)",
    `  --cni-bin-dir DIR        [CNI_BIN_DIR] default ${DEFAULTS.cniBinDir}`,
    `  --cni-conf-dir DIR       [CNI_CONF_DIR] default ${DEFAULTS.cniConfDir}`,
    `  --ipam-data-dir DIR      [PATCHCORD_IPAM_DATA_DIR] default ${DEFAULTS.ipamDataDir} (keep it on tmpfs)`,
    `  --resync SECONDS         [PATCHCORD_RESYNC] full relist and re-apply period, default ${DEFAULTS.resyncSeconds}`,
    `  --health-addr HOST:PORT  [PATCHCORD_HEALTH_ADDR] /healthz and /readyz, default ${DEFAULTS.healthAddr} (port 0: any)`,
    `  --socket PATH|none       [PATCHCORD_SOCKET] the resident CNI server's socket, default ${DEFAULTS.socket}`,
    "Environment only (the ConfigMap):",
    "  PATCHCORD_MODE           veth-routed (default) or bridge",
    "  PATCHCORD_MTU            pod MTU; 0 or empty: the uplink's MTU",
    "  PATCHCORD_MASQUERADE     true (default) or false",
    "  PATCHCORD_CLUSTER_CIDRS  comma list not masqueraded, beside all nodes' podCIDRs",
    "  PATCHCORD_API_SERVER     API server URL override, e.g. https://kind-control-plane:6443",
  ].join("\n");
}

class UsageError extends Error {}

export function parseAgentArgs(args: string[], env: NodeJS.ProcessEnv, defaultNodeName: () => string = hostname): ParsedArgs {
  try {
    return parse(args, env, defaultNodeName);
  } catch (e) {
    if (e instanceof UsageError) return { command: "error", message: e.message };
    throw e;
  }
}

function parse(args: string[], env: NodeJS.ProcessEnv, defaultNodeName: () => string): ParsedArgs {
  const uninstall = args[0] === "uninstall";
  const words = uninstall ? args.slice(1) : args;
  const fromFlags = new Map<string, { value: string; source: string }>();
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    if (word === "--help" || word === "-h" || word === "help") return { command: "help" };
    const eq = word.indexOf("=");
    const name = eq > 0 ? word.slice(0, eq) : word;
    const setting = FLAG_SETTINGS.find((s) => s.flag === name);
    if (!setting || (uninstall && !setting.directory)) {
      const what = word.startsWith("-") ? `unknown flag ${name}` : `unexpected argument ${JSON.stringify(word)}`;
      throw new UsageError(`${what}${uninstall ? " for agent uninstall" : ""} (see patchcord agent --help)`);
    }
    let value: string | undefined;
    if (eq > 0) value = word.slice(eq + 1);
    else value = words[++i];
    if (value === undefined) throw new UsageError(`${name} needs a value`);
    fromFlags.set(setting.key, { value, source: name });
  }

  // An empty variable is unset: a ConfigMap key left blank means "default".
  const setting = (key: string): { value: string; source: string } | undefined => {
    const flagged = fromFlags.get(key);
    if (flagged) return flagged;
    const envName = FLAG_SETTINGS.find((s) => s.key === key)?.env ?? key;
    const value = env[envName];
    return value !== undefined && value.trim() !== "" ? { value: value.trim(), source: envName } : undefined;
  };

  const directory = (key: string, fallback: string): string => {
    const s = setting(key);
    if (!s) return fallback;
    const problem = absolutePathProblem(s.value);
    if (problem) throw new UsageError(`${s.source} ${JSON.stringify(s.value)} ${problem}`);
    return s.value.replace(/(.)\/+$/, "$1");
  };
  const directories: Directories = {
    cniBinDir: directory("cniBinDir", DEFAULTS.cniBinDir),
    cniConfDir: directory("cniConfDir", DEFAULTS.cniConfDir),
    ipamDataDir: directory("ipamDataDir", DEFAULTS.ipamDataDir),
  };
  if (uninstall) return { command: "uninstall", options: directories };

  const kubeconfig = setting("kubeconfig");
  if (kubeconfig) {
    // kubectl's KUBECONFIG may be a list; the agent talks to one cluster and takes one file.
    if (kubeconfig.value.includes(":")) throw new UsageError(`${kubeconfig.source} ${JSON.stringify(kubeconfig.value)}: give one file, not a list`);
    if (/[\0\n]/.test(kubeconfig.value)) throw new UsageError(`${kubeconfig.source}: not a file name`);
  }
  const options: AgentOptions = {
    ...directories,
    kubeconfig: kubeconfig?.value,
    nodeName: nodeName(setting("nodeName"), defaultNodeName),
    resyncSeconds: resync(setting("resync")),
    health: hostPort(setting("healthAddr") ?? { value: DEFAULTS.healthAddr, source: "default" }),
    mode: mode(setting("PATCHCORD_MODE")),
    mtu: mtu(setting("PATCHCORD_MTU")),
    masquerade: bool(setting("PATCHCORD_MASQUERADE"), true),
    clusterCIDRs: cidrList(setting("PATCHCORD_CLUSTER_CIDRS")),
    apiServer: apiServer(setting("PATCHCORD_API_SERVER")),
    socket: socketPath(setting("socket")),
  };
  return { command: "run", options };
}

type Given = { value: string; source: string } | undefined;

const bad = (s: { value: string; source: string }, why: string) => new UsageError(`${s.source} ${JSON.stringify(s.value)}: ${why}`);

// RFC 1123 subdomain, what the API server accepts as a Node's name.
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function nodeName(s: Given, defaultNodeName: () => string): string {
  // kubelet names its Node after the host name, lowercased, unless told otherwise.
  const given = s ?? { value: defaultNodeName().toLowerCase(), source: "host name (no NODE_NAME)" };
  if (given.value.length > 253 || !DNS_SUBDOMAIN.test(given.value)) throw bad(given, "not a valid node name (lowercase RFC 1123 subdomain)");
  return given.value;
}

function resync(s: Given): number {
  if (!s) return DEFAULTS.resyncSeconds;
  if (!/^[0-9]+(\.[0-9]+)?$/.test(s.value)) throw bad(s, "not a number of seconds");
  const n = Number(s.value);
  if (n < 0.1 || n > 86400) throw bad(s, "must be between 0.1 and 86400 seconds");
  return n;
}

/** `HOST:PORT`, `[IPv6]:PORT`; port 0 asks the kernel for a free one. */
export function hostPort(s: { value: string; source: string }): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/.exec(s.value);
  if (!m) throw bad(s, "expected HOST:PORT (IPv6 in brackets)");
  const port = Number(m[3]);
  if (port > 65535) throw bad(s, "port out of range");
  return { host: m[1] ?? m[2], port };
}

function mode(s: Given): Mode {
  if (!s) return "veth-routed";
  if (s.value !== "veth-routed" && s.value !== "bridge") throw bad(s, "expected veth-routed or bridge");
  return s.value;
}

function mtu(s: Given): number {
  if (!s) return 0;
  if (!/^[0-9]+$/.test(s.value)) throw bad(s, "not a whole number");
  const n = Number(s.value);
  // 0 means "the uplink's"; 576 is the least IPv4 datagram every host must take, 65535 the most a link has.
  if (n !== 0 && (n < 576 || n > 65535)) throw bad(s, "expected 0 (the uplink's) or 576..65535");
  return n;
}

function bool(s: Given, fallback: boolean): boolean {
  if (!s) return fallback;
  const v = s.value.toLowerCase();
  if (v === "true") return true;
  if (v === "false") return false;
  throw bad(s, "expected true or false");
}

function cidrList(s: Given): string[] {
  if (!s) return [];
  const items = s.value.split(",").map((x) => x.trim()).filter((x) => x !== "");
  return items.map((item) => {
    const p = parsePrefix(item);
    if (!p) throw bad(s, `${JSON.stringify(item)} is not a CIDR`);
    const net = `${formatIP(networkOf(p))}/${p.bits}`;
    if (net !== `${formatIP(p.ip)}/${p.bits}`) throw bad(s, `${item} has host bits set (the network is ${net})`);
    return net;
  });
}

function apiServer(s: Given): string | undefined {
  if (!s) return undefined;
  // kind's CONTROL_PLANE_ENDPOINT style (host:port, no scheme) is taken as https.
  const text = s.value.includes("://") ? s.value : `https://${s.value}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw bad(s, "not a URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw bad(s, "expected an https:// URL");
  if (!url.hostname) throw bad(s, "no host");
  if (url.search || url.hash || url.username) throw bad(s, "expected scheme://host[:port] only");
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`;
}

export const ENVIRONMENT = [...FLAG_SETTINGS.map((s) => s.env), ...ENV_SETTINGS];

/** The server's socket: an absolute path, or `none` for an agent that serves no CNI calls. */
function socketPath(s: Given): string | undefined {
  if (!s) return DEFAULTS.socket;
  if (s.value === "none") return undefined;
  const problem = absolutePathProblem(s.value);
  if (problem) throw bad(s, problem);
  if (s.value.length > 107) throw bad(s, "is longer than a Unix socket path may be (107 bytes)");
  return s.value;
}
