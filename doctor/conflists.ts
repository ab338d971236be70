import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import type { Conflist } from "../shared/cni/conflist";
import type { Invocation } from "../shared/cni/env";
import { isCniError } from "../shared/cni/errors";
import { isSupportedVersion, SUPPORTED_VERSIONS } from "../shared/cni/versions";
import { pluginFor } from "../plugins/registry";
import { parseBridgeConfig } from "../plugins/bridge/config";
import { parseHostLocalConfig } from "../plugins/host-local/config";
import { parseIpvlanConfig } from "../plugins/ipvlan/config";
import { parseMacvlanConfig } from "../plugins/macvlan/config";
import { parseVethRoutedConfig } from "../plugins/veth-routed/config";
import { CannotLook, Finding } from "./finding";
import { Look, shown } from "./look";

/** What libcni (and so containerd and cri-o) reads from a conf dir: these extensions, sorted by name. */
export const CONFIG_EXTENSIONS = [".conf", ".conflist", ".json"];

export interface ConfFile {
  path: string;
  list?: Conflist;
  /** Why the runtime would refuse it. */
  problem?: string;
}

type Raw = Record<string, unknown>;

// The plugins' own config parsers: a config doctor passes is one the plugin accepts.
const PARSERS: Record<string, (raw: Raw, inv: Invocation) => unknown> = {
  bridge: parseBridgeConfig,
  "veth-routed": parseVethRoutedConfig,
  macvlan: parseMacvlanConfig,
  ipvlan: parseIpvlanConfig,
  "host-local": parseHostLocalConfig,
};
export const SAMPLE_INVOCATION: Invocation = { command: "ADD", containerId: "patchcord-doctor", netns: "/run/netns/patchcord-doctor", ifname: "eth0", args: {}, path: [] };

/** The config files in `dir`, in the order the runtime considers them; undefined when the dir is missing. */
export function configFiles(dir: string): string[] | undefined {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw new CannotLook(`cannot read the conf dir ${dir}: ${(e as Error).message}`);
  }
  return names
    .filter((n) => CONFIG_EXTENSIONS.some((x) => n.endsWith(x)))
    .sort()
    .map((n) => join(dir, n))
    .filter((p) => {
      try {
        return statSync(p).isFile();
      } catch {
        return false;
      }
    });
}

/** A file as libcni loads it: a .conflist as is, a single plugin's .conf (or .json) as a list of one. */
export function loadConfFile(path: string): ConfFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    return { path, problem: `cannot be read: ${(e as Error).message}` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { path, problem: `is not JSON: ${(e as Error).message}` };
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return { path, problem: "is not a JSON object" };
  const r = raw as Raw;
  if (typeof r.name !== "string" || r.name === "") return { path, problem: 'has no "name"' };
  let list: Conflist;
  if (path.endsWith(".conflist")) {
    if (!Array.isArray(r.plugins) || r.plugins.length === 0) return { path, problem: 'has no "plugins" (a .conflist needs a list of at least one)' };
    list = { cniVersion: String(r.cniVersion ?? ""), name: r.name, plugins: r.plugins as Raw[] };
  } else {
    if (typeof r.type !== "string") return { path, problem: 'has no "type" (a .conf is one plugin\'s config)' };
    const { cniVersion, name, ...plugin } = r;
    list = { cniVersion: String(cniVersion ?? ""), name: String(name), plugins: [plugin] };
  }
  return { path, list, problem: validate(list) };
}

/** Why our plugins would refuse the list at ADD, if they would: the version, then each plugin's parser. */
function validate(list: Conflist): string | undefined {
  if (!isSupportedVersion(list.cniVersion)) return `has cniVersion ${JSON.stringify(list.cniVersion)}; the plugins speak ${SUPPORTED_VERSIONS.join(", ")}`;
  for (const [i, plugin] of list.plugins.entries()) {
    if (typeof plugin !== "object" || plugin === null || typeof plugin.type !== "string") return `plugin ${i + 1} has no "type"`;
    const raw = { cniVersion: list.cniVersion, name: list.name, ...plugin };
    const types = [String(plugin.type), typeof (plugin.ipam as Raw | undefined)?.type === "string" ? String((plugin.ipam as Raw).type) : undefined];
    for (const type of types) {
      const ours = type && pluginFor(type);
      if (!ours) continue;
      try {
        PARSERS[ours](raw, SAMPLE_INVOCATION);
      } catch (e) {
        const msg = isCniError(e) ? `${e.message}${e.details ? ` (${e.details})` : ""}` : (e as Error).message;
        return `plugin ${i + 1} (${type}) refuses it: ${msg}`;
      }
    }
  }
  return undefined;
}

/** Every executable a list needs: each plugin's type and its IPAM plugin's. */
export function neededPlugins(list: Conflist): string[] {
  const out = new Set<string>();
  for (const p of list.plugins) {
    if (typeof p.type === "string") out.add(p.type);
    const ipamType = (p.ipam as Raw | undefined)?.type;
    if (typeof ipamType === "string") out.add(ipamType);
  }
  return [...out];
}

const isExecutable = (path: string): boolean => {
  try {
    const st = statSync(path);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
};

export interface ConflistLook {
  files: ConfFile[];
  /** The runtime's pick: the first file by name. */
  picked?: ConfFile;
  findings: Finding[];
}

/** The conf dir as the runtime sees it, and what is wrong with the config it would use. */
export async function lookAtConflists(look: Look, confDir: string, binDirs: string[]): Promise<ConflistLook> {
  const names = configFiles(confDir);
  const listing = shown(await look.run(undefined, ["ls", "-1", confDir]));
  if (!names || names.length === 0) {
    return {
      files: [],
      findings: [
        {
          id: "conflist-none",
          message: `the runtime would find no network config: ${names ? `${confDir} holds no ${CONFIG_EXTENSIONS.join(", ")} file` : `${confDir} does not exist`}, so no pod can start (the node stays NotReady)`,
          evidence: [listing],
          fix: ["install a conflist there (with the node agent: patchcord agent writes 00-patchcord.conflist once the node has a podCIDR; by hand: see patchcord explain)"],
        },
      ],
    };
  }
  const files = names.map(loadConfFile);
  const picked = files[0];
  const findings: Finding[] = [];
  for (const f of files) {
    if (!f.problem) continue;
    const isPick = f === picked;
    findings.push({
      id: "conflist-invalid",
      network: f.list?.name,
      message: `${f.path} ${f.problem}${isPick ? "; it is the runtime's pick (the first by name), so every pod fails to start" : " (not the runtime's pick, but a runtime or Multus that loads every network would fail on it)"}`,
      evidence: [listing, shown(await look.run(undefined, ["head", "-c", "2000", f.path]))],
      fix: [isPick ? `correct ${f.path}, or move it out of ${confDir} so that a valid one is first` : `correct or remove ${f.path}`],
    });
  }
  for (const f of files) {
    if (!f.list) continue;
    for (const type of neededPlugins(f.list)) {
      if (binDirs.some((d) => isExecutable(join(d, type)))) continue;
      findings.push({
        id: "plugin-missing",
        network: f.list.name,
        message: `${f.path} names the plugin ${JSON.stringify(type)}, which is not an executable in ${binDirs.join(":")}: ${f === picked ? "every pod's ADD fails" : "ADD on that network fails"}`,
        evidence: await Promise.all(binDirs.map(async (d) => shown(await look.run(undefined, ["ls", "-l", join(d, type)])))),
        fix: [pluginFor(type) ? `ln -s ${patchcordBinary(binDirs)} ${join(binDirs[0], type)}   # patchcord answers to the name it is called by` : `install the ${type} plugin into ${binDirs[0]}`],
      });
    }
  }
  return { files, picked, findings };
}

/** Where the multi-call binary is: in the bin dir when it is installed there, else the one running. */
function patchcordBinary(binDirs: string[]): string {
  const installed = binDirs.map((d) => join(d, "patchcord")).find(isExecutable);
  return installed ?? (basename(process.execPath).startsWith("patchcord") ? process.execPath : "/path/to/patchcord");
}
