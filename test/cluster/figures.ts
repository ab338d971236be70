import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../integration/helpers";

/**
 * The cluster tests' figures (for the README): measured once per run, printed in one marked line
 * (`cluster figures: ...`) and written to dist/cluster-figures.json.
 */
const figures: Record<string, number> = {};
const LABELS: Record<string, string> = {
  ready: "ready",
  newNodeRoutes: "new node routes everywhere",
  deletedNodeRoutes: "deleted node routes gone everywhere",
  healedRoute: "route deleted by hand back",
  containerdRun: "containerd container up and pinging",
};

export function recordFigure(name: keyof typeof LABELS | string, ms: number): void {
  figures[name] = Math.round(ms);
}

export function figuresLine(): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(figures)) {
    if (k === "readyOwn") continue;
    parts.push(`${LABELS[k] ?? k} ${v} ms${k === "ready" && figures.readyOwn !== undefined ? ` (the agent's own count ${figures.readyOwn} ms)` : ""}`);
  }
  return `cluster figures: ${parts.join(", ")}`;
}

/** Prints the line (console.log, so it shows in jest's output) and writes the JSON; nothing when no figure was taken. */
export function printFigures(file = "cluster-figures.json"): void {
  if (!Object.keys(figures).length) return;
  // eslint-disable-next-line no-console
  console.log(figuresLine());
  try {
    mkdirSync(join(ROOT, "dist"), { recursive: true });
    writeFileSync(join(ROOT, "dist", file), `${JSON.stringify({ measuredAt: new Date().toISOString(), figures }, null, 2)}\n`);
  } catch {
    // dist/ not writable: the printed line is what matters.
  }
}
