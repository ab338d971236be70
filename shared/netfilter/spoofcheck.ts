import { checkIfname, checkMac, nftScript, Op } from "../kernel/ops";

/**
 * macspoofchk with nftables' bridge family: frames entering the bridge from a checked port must
 * carry that pod's MAC. Like the masquerade table, rules are fixed and each pod only adds set
 * elements, so ADD and DEL are single transactions without rule handles.
 *
 *   table bridge patchcord
 *     set spoofchk_ports   { type ifname }                port names of checked pods
 *     set spoofchk_allowed { type ifname . ether_addr }   (port . the pod's MAC)
 *     chain prerouting (filter, priority -300):
 *       iifname @spoofchk_ports iifname . ether saddr != @spoofchk_allowed drop
 */
export const SPOOF_TABLE = "patchcord";

const BASE = [
  `add table bridge ${SPOOF_TABLE} { comment "patchcord: MAC spoof check (macspoofchk)"; }`,
  `add set bridge ${SPOOF_TABLE} spoofchk_ports { type ifname; }`,
  `add set bridge ${SPOOF_TABLE} spoofchk_allowed { type ifname . ether_addr; }`,
  `add chain bridge ${SPOOF_TABLE} prerouting { type filter hook prerouting priority -300; policy accept; }`,
  `flush chain bridge ${SPOOF_TABLE} prerouting`,
  `add rule bridge ${SPOOF_TABLE} prerouting iifname @spoofchk_ports iifname . ether saddr != @spoofchk_allowed drop`,
];

function keys(port: string, mac: string): { set: string; key: string }[] {
  const p = `"${checkIfname(port)}"`;
  return [
    { set: "spoofchk_ports", key: p },
    { set: "spoofchk_allowed", key: `${p} . ${checkMac(mac)}` },
  ];
}

const removal = (port: string, mac: string): string[] =>
  keys(port, mac).flatMap(({ set, key }) => [`add element bridge ${SPOOF_TABLE} ${set} { ${key} }`, `delete element bridge ${SPOOF_TABLE} ${set} { ${key} }`]);

/** ADD: only `mac` may leave the pod through `port`. */
export function spoofcheckOps(port: string, mac: string, tag: string): Op {
  const adds = keys(port, mac).map(({ set, key }) => `add element bridge ${SPOOF_TABLE} ${set} { ${key} comment "${tag}" }`);
  const lines = (l: string[]) => l.join("\n") + "\n";
  // Only `add element` (a `delete` makes nft 1.0 about four times slower): port names are unique
  // per attachment, so an element left behind here is never another attachment's.
  return nftScript({ setup: lines(BASE), script: lines(adds), undo: lines([...BASE, ...removal(port, mac)]) });
}

/** DEL: drop the check for `port` (whatever MAC it allowed); succeeds when there is none. */
export function unspoofcheckOps(port: string, mac: string): Op {
  return nftScript({ setup: BASE.join("\n") + "\n", script: removal(port, mac).join("\n") + "\n" });
}

type Runner = (argv: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

/** The MACs allowed per checked port, read with one `nft -j list set`; empty without the table. */
export async function listSpoofchecked(run: Runner): Promise<Map<string, string[]>> {
  const r = await run(["nft", "-j", "list", "set", "bridge", SPOOF_TABLE, "spoofchk_allowed"]);
  const out = new Map<string, string[]>();
  if (r.code !== 0) return out; // no table or set: nothing is checked
  for (const item of (JSON.parse(r.stdout).nftables ?? []) as { set?: { elem?: unknown[] } }[]) {
    for (const e of (item.set?.elem ?? []) as { elem?: { val?: { concat?: unknown[] } }; concat?: unknown[] }[]) {
      const [port, mac] = e.elem?.val?.concat ?? e.concat ?? [];
      if (typeof port === "string" && typeof mac === "string") out.set(port, [...(out.get(port) ?? []), mac]);
    }
  }
  return out;
}
