import type { AgentDeps } from "../agent/main";

/**
 * The node agent and the Kubernetes client it is built on are several MB of code that no CNI call
 * needs. In the plugins' bundle they made every plugin start ~30% slower (all bytecode of one
 * bundle is loaded at start-up, evaluated or not), so the build bundles the agent on its own and
 * embeds it in the executable as a file (dist/agent.bundle), evaluated only by `patchcord agent`.
 * Run from source (tests), the agent is required as usual.
 */
export type AgentMain = (args: string[], deps?: Pick<AgentDeps, "serve">) => Promise<number>;

interface EmbeddedFile {
  name: string;
  text(): Promise<string>;
}

const BUNDLE_NAME = /^agent(-[a-z0-9]+)?\.bundle$/;

export async function loadAgent(): Promise<AgentMain> {
  const embedded = ((globalThis as { Bun?: { embeddedFiles?: EmbeddedFile[] } }).Bun?.embeddedFiles ?? []).find((f) => BUNDLE_NAME.test(f.name));
  if (embedded) {
    // Bun's own CommonJS output: one function expression taking (exports, require, module, ...).
    const module = { exports: {} as { runAgent?: AgentMain } };
    const factory = (0, eval)(await embedded.text()) as (...args: unknown[]) => void;
    factory(module.exports, require, module, `/$bunfs/root/${embedded.name}`, "/$bunfs/root");
    if (typeof module.exports.runAgent !== "function") throw new Error("the embedded agent bundle has no runAgent");
    return module.exports.runAgent;
  }
  // Not a compiled binary: a path the bundler does not follow, so the agent never enters its graph.
  const fromSource = ["..", "agent", "main"].join("/");
  try {
    return (require(fromSource) as { runAgent: AgentMain }).runAgent;
  } catch (e) {
    throw new Error(`patchcord agent is not part of this build (${(e as Error).message.split("\n")[0]})`);
  }
}
