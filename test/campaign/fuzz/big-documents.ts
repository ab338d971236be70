import type { FuzzInput, Plugin, Verb } from "./generators";
import { PLUGINS } from "./generators";

/**
 * 10 MB documents, two per plugin (they are slow: a few, not many): nested arrays, which must be
 * refused as undecodable (6) without exhausting the stack, and a 10 MB string in a key the plugin
 * does not know (code 2; host-local only reads `ipam`, `args` and `runtimeConfig`, so it ignores
 * the key, as the reference does, and works). Verbs and modes alternate over the plugins.
 */
const TEN_MB = 10 * 1024 * 1024;
const VERBS: Verb[] = ["ADD", "DEL", "CHECK", "GC", "STATUS"];

const env = (verb: Verb) => ({ CNI_COMMAND: verb, CNI_CONTAINERID: "fz-big", CNI_NETNS: "$POD", CNI_IFNAME: "eth0", CNI_PATH: "$BIN" });

function config(plugin: Plugin): Record<string, unknown> {
  const ipam = { type: "host-local", dataDir: "$DATA", ranges: [[{ subnet: "10.78.0.0/24" }]] };
  const own: Record<Plugin, Record<string, unknown>> = {
    bridge: { bridge: "$RIDbr" },
    "veth-routed": {},
    macvlan: { master: "$MASTER" },
    ipvlan: { master: "$MASTER" },
    "host-local": {},
  };
  return { cniVersion: "1.1.0", name: "fzbig", type: plugin, ...own[plugin], ipam };
}

export function bigDocuments(): FuzzInput[] {
  return PLUGINS.flatMap((plugin, i): FuzzInput[] => [
    { plugin, verb: VERBS[i], exec: i % 2 === 0, env: env(VERBS[i]), stdin: { nested: TEN_MB / 2 }, mutation: "10 MB of nested arrays", expect: { codes: [6] } },
    {
      plugin,
      verb: "ADD",
      exec: i % 2 === 1,
      env: env("ADD"),
      stdin: { bigString: TEN_MB, key: "extra", json: config(plugin) },
      mutation: "a 10 MB string in an unknown key",
      expect: plugin === "host-local" ? { valid: true } : { codes: [2] },
    },
  ]);
}
