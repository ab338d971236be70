import { existsSync, readFileSync, rmSync } from "node:fs";
import { checkDir, ensureDir, Log, removeLeftoverTemps, writeFileAtomic } from "./atomic-file";
import { checkNodeRoute, NodeRoute } from "./routes";

/**
 * The agent's view of the cluster, for `patchcord doctor`: this node's podCIDRs and the routes it
 * wants to the other nodes' pods. It lives in the IPAM data dir (tmpfs, beside host-local's
 * `<dir>/<network>/` stores, which never look at a file), where doctor finds it from the
 * conflist's `ipam.dataDir` with no option of its own. Rewritten only when it changes.
 */
export const AGENT_STATE_FILE = "agent-state.json";
const TEMP_PURPOSE = "agent-state";

export interface AgentState {
  node: string;
  podCIDRs: string[];
  routes: NodeRoute[];
}

export const agentStatePath = (dataDir: string): string => `${dataDir}/${AGENT_STATE_FILE}`;

export function renderAgentState(state: AgentState): string {
  return JSON.stringify({ node: state.node, podCIDRs: state.podCIDRs, routes: state.routes.map((r) => ({ node: r.node, dst: r.dst, via: r.via })) }, null, 2) + "\n";
}

/** Writes the state when it differs from the file's; true when it wrote. */
export function writeAgentState(dataDir: string, state: AgentState, log: Log): boolean {
  const dir = checkDir(dataDir, "IPAM data dir");
  const text = renderAgentState(state);
  ensureDir(dir, log);
  removeLeftoverTemps(dir, TEMP_PURPOSE, log);
  try {
    if (readFileSync(agentStatePath(dir), "utf8") === text) return false;
  } catch {
    // none yet
  }
  writeFileAtomic(dir, AGENT_STATE_FILE, text, 0o644, TEMP_PURPOSE);
  return true;
}

export function removeAgentState(dataDir: string, log: Log): void {
  const path = agentStatePath(checkDir(dataDir, "IPAM data dir"));
  if (!existsSync(path)) return;
  rmSync(path, { force: true });
  log(`removed ${path}: the agent's state for patchcord doctor`);
}

/** The state file as the agent wrote it, or why it cannot be used. */
export function readAgentState(path: string): { state?: AgentState; problem?: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    return { problem: (e as NodeJS.ErrnoException).code === "ENOENT" ? `${path} does not exist (is the agent running on this node?)` : `${path} cannot be read: ${(e as Error).message}` };
  }
  const s = raw as Partial<AgentState>;
  if (typeof s.node !== "string" || !Array.isArray(s.podCIDRs) || !Array.isArray(s.routes)) return { problem: `${path} is not the agent's state (node, podCIDRs, routes)` };
  const routes: NodeRoute[] = [];
  for (const r of s.routes) {
    const checked = checkNodeRoute(r as NodeRoute);
    if (!checked.route) return { problem: `${path}: ${checked.problem}` };
    routes.push({ node: checked.route.node, dst: checked.route.dst, via: checked.route.via });
  }
  return { state: { node: s.node, podCIDRs: s.podCIDRs.map(String), routes } };
}
