import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

/**
 * The campaign's figures (inputs tried, kills, faults, durations): each suite records what it did,
 * one JSON line per figure in dist/campaign-figures.jsonl, and `npm test` prints them at the end
 * (scripts/test.mjs), so the figures in the README come from a run anyone can repeat.
 */
const FILE = join(__dirname, "../../dist/campaign-figures.jsonl");

export interface Figure {
  /** The suite, e.g. "fuzz", "kill", "storage", "load", "reboot". */
  suite: string;
  /** What was counted or timed, in words, e.g. "bridge: inputs tried". */
  what: string;
  value: number;
  /** The unit, e.g. "inputs", "kills", "ms". */
  unit: string;
}

export function recordFigure(f: Figure): void {
  mkdirSync(join(__dirname, "../../dist"), { recursive: true });
  appendFileSync(FILE, JSON.stringify(f) + "\n");
}

export const FIGURES_FILE = FILE;
