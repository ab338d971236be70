import { FINDINGS } from "./finding";
import { exitCode, Report } from "./inspect";
import { hopTable } from "./probe";

const indent = (text: string, by: string): string[] => text.split("\n").map((l) => by + l);

/** The report for a person: what was looked at, each finding with its evidence and fix, a summary. */
export function renderText(r: Report): string[] {
  const lines = [`patchcord doctor: node ${r.node}`];
  lines.push(r.conflist ? `  config: ${r.conflist} (the runtime's pick, of ${r.confDir})` : `  config: none in ${r.confDir}`);
  for (const n of r.networks) lines.push(`  network ${n.name}: ${n.kind}${n.picked ? "" : ` (${n.file}, not the runtime's pick)`}`);
  const by = (c: string) => r.pods.filter((p) => p.condition === c).length;
  if (r.networks.length) lines.push(`  pods: ${r.pods.length} in the IPAM store${r.pods.length ? ` (${by("live")} live${by("stale") ? `, ${by("stale")} stale` : ""}${by("unplugged") ? `, ${by("unplugged")} unplugged` : ""}${by("unknown") ? `, ${by("unknown")} not looked inside` : ""})` : ""}, ${r.pods.filter((p) => p.netns).length} with a known namespace`);
  for (const f of r.findings) {
    lines.push("", `✗ ${f.id}: ${f.message}`);
    for (const e of f.evidence) lines.push(`    $ ${e.command}`, ...indent(e.output, "      "));
    if (f.fix.length) lines.push("  fix:", ...f.fix.flatMap((x) => indent(x, "    ")));
  }
  if (r.probe) {
    const p = r.probe;
    lines.push("", `probe: ${p.from} → ${p.to} (${p.address}): ${p.received}/${p.sent} replies: ${p.verdict}`);
    // A failed probe's table is in its finding's evidence.
    if (!r.findings.some((f) => f.id === "probe-failed")) lines.push(...indent(hopTable(p.hops), "    "));
  }
  for (const n of r.notes) lines.push("", `note: ${n}`);
  for (const c of r.cannot) lines.push("", `could not look: ${c}`);
  const code = exitCode(r);
  const ids = [...new Set(r.findings.map((f) => f.id))];
  lines.push(
    "",
    code === 0
      ? `nothing wrong found (${r.commands.length} read-only commands; exit 0)`
      : code === 1
        ? `${r.findings.length} finding${r.findings.length === 1 ? "" : "s"}: ${ids.join(", ")} (exit 1)`
        : `nothing wrong found, but doctor could not look at everything (exit 2)`,
  );
  return lines;
}

/** One JSON document: findings first, as the issue's contract names them, then the rest. */
export function renderJson(r: Report): string {
  return JSON.stringify({
    findings: r.findings.map((f) => ({ id: f.id, message: f.message, evidence: f.evidence, fix: f.fix, about: FINDINGS[f.id], network: f.network, pod: f.pod })),
    exitCode: exitCode(r),
    node: r.node,
    confDir: r.confDir,
    conflist: r.conflist ?? null,
    networks: r.networks,
    pods: r.pods,
    probe: r.probe,
    notes: r.notes,
    cannot: r.cannot,
    commands: r.commands,
  });
}
