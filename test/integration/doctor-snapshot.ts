import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { runCommand } from "../../shared/kernel/run";

// What "doctor changes nothing" compares: each namespace's links, addresses, routes, neighbours
// (but their ageing state), sysctls (but counters that move by themselves), the whole ruleset,
// and every file (name, mode, size, content) under the given directories.
const VOLATILE_SYSCTL = /nf_conntrack_count|\.stable_secret|base_reachable_time|neigh\..*\.(?:locktime)|route\.gc_|^net\.core\.netdev_rss_key/;

async function out(argv: string[]): Promise<string> {
  const r = await runCommand(argv);
  return `${r.code} ${r.stdout}${r.stderr}`;
}

function files(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [`${dir}: none`];
  }
  return names.flatMap((n) => {
    const path = join(dir, n);
    const st = statSync(path);
    return st.isDirectory() ? files(path) : [`${path} ${st.mode.toString(8)} ${st.size} ${readFileSync(path, "utf8")}`];
  });
}

/** Waits (up to 10 s) until no address is tentative: the end of DAD adds local routes by itself. */
export async function settled(namespaces: string[]): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const busy = await Promise.all(namespaces.map(async (ns) => (await runCommand(["ip", "-n", ns, "-6", "addr", "show", "tentative"])).stdout.trim() !== ""));
    if (!busy.some(Boolean)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function kernelSnapshot(namespaces: string[], dirs: string[]): Promise<Record<string, string | string[]>> {
  const snap: Record<string, string | string[]> = {};
  for (const ns of namespaces) {
    const exec = ["ip", "netns", "exec", ns];
    // Timers (a bridge's gc_timer, a port's forward_delay_timer) tick by themselves.
    snap[`${ns} links`] = (await out([...exec, "ip", "-d", "addr", "show"])).replace(/(\w+_timer)\s+[\d.]+/g, "$1");
    snap[`${ns} routes`] = await out([...exec, "ip", "route", "show", "table", "all"]);
    snap[`${ns} routes6`] = await out([...exec, "ip", "-6", "route", "show", "table", "all"]);
    snap[`${ns} rules`] = await out([...exec, "ip", "rule", "show"]);
    snap[`${ns} neighbours`] = (await out([...exec, "ip", "neigh", "show"])).replace(/ (REACHABLE|STALE|DELAY|PROBE)\b/g, "");
    snap[`${ns} nft`] = await out([...exec, "nft", "list", "ruleset"]);
    snap[`${ns} iptables`] = (await out([...exec, "iptables-save", "-t", "nat"])).replace(/# (Generated|Completed) .*$/gm, "").replace(/\[\d+:\d+\]/g, "");
    snap[`${ns} sysctl`] = (await out([...exec, "sysctl", "-a", "--pattern", "^net\\."])).split("\n").filter((l) => !VOLATILE_SYSCTL.test(l)).join("\n");
  }
  snap.files = dirs.flatMap(files);
  return snap;
}
