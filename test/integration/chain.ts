import { existsSync } from "node:fs";
import type { Conflist } from "../../shared/cni/conflist";
export type { Conflist };
import { join } from "node:path";
import { PluginRun } from "./helpers";
import { execPluginIn } from "./netlab";

/**
 * Runs a conflist the way libcni does, for chaining tests until the conformance driver (on libcni
 * itself) lands: ADD and CHECK in list order with the previous result as prevResult, DEL in
 * reverse order with the final result; `name` and `cniVersion` injected, and `runtimeConfig` for
 * the capabilities a plugin declares.
 */

export interface Attachment {
  node: string;
  containerId: string;
  netns: string;
  ifname: string;
  /** Directories searched for plugin binaries, in order (CNI_PATH). */
  path: string[];
  capabilityArgs?: Record<string, unknown>;
}

function findBinary(type: string, path: string[]): string {
  for (const dir of path) if (existsSync(join(dir, type))) return join(dir, type);
  throw new Error(`plugin ${type} not found in ${path.join(":")}`);
}

function pluginConfig(list: Conflist, plugin: Record<string, unknown>, a: Attachment, prevResult?: unknown): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  const caps = (plugin.capabilities ?? {}) as Record<string, boolean>;
  const runtimeConfig = Object.fromEntries(Object.entries(a.capabilityArgs ?? {}).filter(([k]) => caps[k]));
  if (Object.keys(runtimeConfig).length) conf.runtimeConfig = runtimeConfig;
  if (prevResult !== undefined) conf.prevResult = prevResult;
  return conf;
}

function invoke(command: string, list: Conflist, plugin: Record<string, unknown>, a: Attachment, prevResult?: unknown): Promise<PluginRun> {
  const env = { CNI_COMMAND: command, CNI_CONTAINERID: a.containerId, CNI_NETNS: a.netns, CNI_IFNAME: a.ifname, CNI_PATH: a.path.join(":") };
  return execPluginIn(a.node, findBinary(String(plugin.type), a.path), env, pluginConfig(list, plugin, a, prevResult));
}

export async function chainAdd(list: Conflist, a: Attachment): Promise<{ result?: Record<string, unknown>; failed?: PluginRun }> {
  let prev: Record<string, unknown> | undefined;
  for (const plugin of list.plugins) {
    const r = await invoke("ADD", list, plugin, a, prev);
    if (r.code !== 0) return { failed: r };
    prev = r.json;
  }
  return { result: prev };
}

export async function chainCheck(list: Conflist, a: Attachment, result: unknown): Promise<PluginRun | undefined> {
  for (const plugin of list.plugins) {
    const r = await invoke("CHECK", list, plugin, a, result);
    if (r.code !== 0) return r;
  }
  return undefined;
}

export async function chainDel(list: Conflist, a: Attachment, result?: unknown): Promise<PluginRun | undefined> {
  for (const plugin of [...list.plugins].reverse()) {
    const r = await invoke("DEL", list, plugin, a, result);
    if (r.code !== 0) return r;
  }
  return undefined;
}
