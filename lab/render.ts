import type { Check, SceneReport, Step } from "./scene";

/** Terminal styling, or none (not a terminal, NO_COLOR set, --json). */
export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  good(s: string): string;
  bad(s: string): string;
}

const sgr = (code: string) => (s: string) => `\x1b[${code}m${s}\x1b[0m`;
export const colours: Style = { bold: sgr("1"), dim: sgr("2"), good: sgr("32"), bad: sgr("31") };
export const plain: Style = { bold: (s) => s, dim: (s) => s, good: (s) => s, bad: (s) => s };

/** Pads to `width` by visible characters (escape sequences take no room). */
const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "").length;
const pad = (s: string, width: number) => s + " ".repeat(Math.max(0, width - visible(s)));

/** Rows of cells as aligned columns, two spaces apart. */
export function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, visible(c))));
  return rows.map((row) => row.map((c, i) => (i === row.length - 1 ? c : pad(c, widths[i]))).join("  ").trimEnd());
}

/**
 * Who reaches whom: one row per source, one column per destination; a cell says what was seen,
 * and a mismatch also says what was expected.
 */
export function matrixLines(checks: Check[], st: Style): string[] {
  const froms = [...new Set(checks.map((c) => c.from))];
  const tos = [...new Set(checks.map((c) => c.to))];
  const cell = (c: Check | undefined): string => {
    if (!c) return st.dim("·");
    const word = c.seen ? "reaches" : "no reply";
    if (c.seen === c.expected) return c.expected ? st.good(word) : st.dim(word) + st.good(" (as expected)");
    return st.bad(`${word} (expected ${c.expected ? "a reply" : "none"})`);
  };
  const rows = [[st.dim("from \\ to"), ...tos.map((t) => st.bold(t))]];
  for (const f of froms) rows.push([st.bold(f), ...tos.map((t) => cell(checks.find((c) => c.from === f && c.to === t)))]);
  return table(rows);
}

function stepLines(step: Step, st: Style): string[] {
  const indent = (lines: string[]) => lines.map((l) => `    ${l}`);
  switch (step.kind) {
    case "setup":
      return [`  ${st.bold("set up by the lab:")} ${step.title}`, ...indent(step.commands.flatMap((c) => c.split("\n").map((l, i) => st.dim(i ? `  ${l}` : `$ ${l}`))))];
    case "plugin":
      return [`  ${st.bold("what the plugins ran:")} ${step.title}`, ...indent(step.script.map((l) => (l.startsWith("#") ? st.dim(l) : l)))];
    case "matrix":
      return [`  ${st.bold(step.title)}`, ...indent(matrixLines(step.checks, st))];
    case "evidence":
      return [`  ${st.bold("evidence:")} ${step.title}`, ...indent(step.lines)];
  }
}

export function sceneLines(r: SceneReport, st: Style): string[] {
  const status = r.status === "passed" ? st.good("as expected") : r.status === "failed" ? st.bad("NOT as expected") : st.dim(`skipped: ${r.reason ?? ""}`);
  const lines = [st.bold(`${r.number}. ${r.title}`), `  ${r.lesson}`];
  if (r.ranIn) lines.push(`  ${st.dim(`(ran inside ${r.ranIn})`)}`);
  for (const step of r.steps) lines.push("", ...stepLines(step, st));
  if (r.status === "failed" && r.reason) lines.push("", `  ${st.bad(r.reason)}`);
  lines.push("", `  => ${status}`, "");
  return lines;
}

export function summaryLine(reports: SceneReport[], st: Style): string {
  const n = (s: SceneReport["status"]) => reports.filter((r) => r.status === s).length;
  const scenes = (k: number) => `${k} scene${k === 1 ? "" : "s"}`;
  const text = `lab: ${scenes(n("passed"))} as expected, ${n("failed")} not, ${n("skipped")} skipped`;
  return n("failed") ? st.bad(text) : st.good(text);
}
