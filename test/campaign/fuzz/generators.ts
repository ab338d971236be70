import fc from "fast-check";
import { SPEC_VERSIONS } from "../../integration/helpers";
import { containerIdProblem, interfaceNameProblem } from "../../../shared/cni/names";

/**
 * Inputs for every plugin and verb: a well-formed invocation (config, CNI_* environment,
 * runtimeConfig, prevResult) built from the plugins' own keys, then at most one change that makes
 * it wrong in a known way (so the answer's code is known), or a few changes of any kind anywhere
 * in it (then any spec answer will do, and the kernel and store must not change if it is refused).
 * Starting from valid input makes most inputs get past the first checks and deep into the plugin.
 */

export const PLUGINS = ["bridge", "veth-routed", "macvlan", "ipvlan", "host-local"] as const;
export type Plugin = (typeof PLUGINS)[number];
export const VERBS = ["ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION"] as const;
export type Verb = (typeof VERBS)[number];

/** Where the throwaway lab is; strings in inputs may name these as $RID, $POD, $DATA, $MASTER, $BIN. */
export interface FuzzContext {
  rid: string;
  podPath: string;
  dataDir: string;
  master: string;
  bin: string;
}

/** Stdin as bytes to build: JSON of `json`, exact `text`, or a big document made at run time. */
export type StdinSpec =
  | { json: unknown }
  | { text: string }
  /** `json` with key `key` set to `depth` nested arrays (`key` absent: the document is just those arrays). */
  | { nested: number; key?: string; json?: Record<string, unknown> }
  /** `json` with key `key` set to a string of `bytes` characters. */
  | { bigString: number; key: string; json: Record<string, unknown> };

/**
 * What the answer must be. `valid`: as the plugin documents for well-formed input (ADD succeeds,
 * except ipvlan's, which this kernel cannot do: an error); `codes`: an error with one of them;
 * `ok`: exit 0; `any`: a result or a spec error, whichever.
 */
export type Expectation = { valid: true } | { codes: number[] } | { ok: true } | { any: true };

export interface FuzzInput {
  plugin: Plugin;
  verb: Verb;
  /** Exec mode (the shim runs the binary) instead of our resident server. */
  exec: boolean;
  env: Record<string, string>;
  stdin: StdinSpec;
  /** When refused, asked again in the other mode, which must answer the same. */
  twin?: boolean;
  /** What was done to the well-formed input, in words. */
  mutation: string;
  expect: Expectation;
}

const PLUGIN_INDEX: Record<Plugin, number> = { bridge: 1, "veth-routed": 2, macvlan: 3, ipvlan: 4, "host-local": 5 };
const NET_PREFIX: Record<Plugin, string> = { bridge: "fzbr", "veth-routed": "fzvr", macvlan: "fzmv", ipvlan: "fziv", "host-local": "fzhl" };

const versionFor = (verb: Verb): fc.Arbitrary<string> =>
  verb === "GC" || verb === "STATUS" ? fc.constant("1.1.0") : verb === "CHECK" ? fc.constantFrom("0.4.0", "1.0.0", "1.1.0") : fc.constantFrom(...SPEC_VERSIONS);

/** host-local's config for network slot `k` of a plugin: ranges or the old subnet form, IPv4 and maybe IPv6. */
const hostLocalIpam = (p: Plugin, k: number) =>
  fc
    .record({
      oldForm: fc.boolean(),
      v6: chance(0.25),
      limits: chance(0.3),
      routes: fc.boolean(),
      // A bridge keeps its first gateway address, and refuses another without forceAddress (as the
      // reference): well-formed inputs on one bridge share one gateway.
      gateway: p === "bridge" ? fc.constant(false) : chance(0.2),
    })
    .map(({ oldForm, v6, limits, routes, gateway }) => {
      const net = `10.7${PLUGIN_INDEX[p]}.${k}`;
      const r4: Record<string, unknown> = { subnet: `${net}.0/24`, ...(limits ? { rangeStart: `${net}.10`, rangeEnd: `${net}.200` } : {}), ...(gateway ? { gateway: `${net}.254` } : {}) };
      const ipam: Record<string, unknown> = { type: "host-local", dataDir: "$DATA" };
      if (oldForm && !v6) Object.assign(ipam, r4);
      else ipam.ranges = [[r4], ...(v6 ? [[{ subnet: `fd7${PLUGIN_INDEX[p]}:${k}::/64` }]] : [])];
      if (routes) ipam.routes = [{ dst: "0.0.0.0/0" }, ...(v6 ? [{ dst: "::/0" }] : [])];
      return ipam;
    });

/** true with probability p. */
const chance = (p: number) => fc.integer({ min: 0, max: 999 }).map((n) => n < p * 1000);
/** `arb`'s value with probability p, else undefined. */
const optional = <T>(arb: fc.Arbitrary<T>, p = 0.3): fc.Arbitrary<T | undefined> => fc.tuple(chance(p), arb).map(([present, v]) => (present ? v : undefined));
const macArb = fc.tuple(...Array.from({ length: 5 }, () => fc.integer({ min: 0, max: 255 }))).map((b) => ["02", ...b.map((x) => x.toString(16).padStart(2, "0"))].join(":"));
const dnsArb = fc.record({ nameservers: fc.constant(["10.0.0.53"]), domain: fc.constant("cluster.local"), search: fc.constant(["svc.cluster.local"]) }, { requiredKeys: [] });

/** Drops undefined values, so optional keys are absent rather than null. */
const compact = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

/** The plugin's own keys, each well-formed, with values that work on this kernel. */
function pluginKeys(p: Plugin, k: number): fc.Arbitrary<Record<string, unknown>> {
  const ipam = hostLocalIpam(p, k);
  const mtu = optional(fc.constantFrom(0, 1280, 1400, 1500));
  const masq = fc.record({ ipMasq: optional(fc.boolean()), ipMasqBackend: optional(fc.constantFrom("iptables", "nftables"), 0.2) });
  switch (p) {
    case "bridge":
      return fc
        .record({
          bridge: fc.constant(`$RIDb${k}`),
          isGateway: optional(fc.boolean(), 0.6),
          isDefaultGateway: optional(fc.boolean()),
          forceAddress: optional(fc.boolean(), 0.2),
          masq,
          mtu,
          port: fc.constantFrom({}, { hairpinMode: true }, { promiscMode: true }, { portIsolation: true }),
          macspoofchk: optional(fc.boolean(), 0.2),
          ipam: optional(ipam, 0.85),
          dns: optional(dnsArb, 0.2),
          mac: optional(macArb, 0.2),
        })
        .map(({ masq: m, port, mac, ...rest }) => compact({ ...rest, ...m, ...port, ...(mac ? { capabilities: { mac: true }, runtimeConfig: { mac } } : {}) }));
    case "veth-routed":
      return fc.record({ masq, mtu, ipam, dns: optional(dnsArb, 0.2) }).map(({ masq: m, ...rest }) => compact({ ...rest, ...m }));
    case "macvlan":
      return fc
        .record({ master: fc.constant("$MASTER"), mode: optional(fc.constantFrom("bridge", "private", "vepa")), mtu, mac: optional(macArb, 0.2), ipam: optional(ipam, 0.8), dns: optional(dnsArb, 0.2) })
        .map(compact);
    case "ipvlan":
      return fc
        .record({ master: fc.constant("$MASTER"), mode: optional(fc.constantFrom("l2", "l3", "l3s")), flag: optional(fc.constantFrom("bridge", "private", "vepa"), 0.2), mtu, ipam: optional(ipam, 0.8) })
        .map(compact);
    case "host-local":
      return fc
        .record({ ipam, ips: optional(fc.integer({ min: 20, max: 60 }), 0.2) })
        .map(({ ipam: i, ips }) => compact({ ipam: i, ...(ips ? { capabilities: { ips: true }, runtimeConfig: { ips: [`10.75.${k}.${ips}/24`] } } : {}) }));
  }
}

/** A prevResult of the config's version for the interface the runtime names. */
function prevResultFor(p: Plugin, k: number, version: string, ifname: string): Record<string, unknown> {
  const net = `10.7${PLUGIN_INDEX[p]}.${k}`;
  const ip: Record<string, unknown> = { address: `${net}.9/24`, gateway: `${net}.1`, interface: 0, ...(version.startsWith("0.") ? { version: "4" } : {}) };
  return { cniVersion: version, interfaces: [{ name: ifname, sandbox: "$POD" }], ips: [ip], routes: [{ dst: "0.0.0.0/0" }], dns: {} };
}

export interface WellFormed {
  plugin: Plugin;
  verb: Verb;
  exec: boolean;
  env: Record<string, string>;
  config: Record<string, unknown>;
}

/** A well-formed invocation of `plugin` with `verb`. */
export function wellFormed(plugin: Plugin, verb: Verb): fc.Arbitrary<WellFormed> {
  return fc
    .record({
      k: fc.integer({ min: 0, max: 1 }),
      version: versionFor(verb),
      exec: chance(0.15),
      id: fc.stringMatching(/^[a-z0-9][a-z0-9_.-]{0,24}$/),
      ifname: fc.constantFrom("eth0", "net1", "e"),
      args: fc.constantFrom("", "IgnoreUnknown=1", "K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-1;K8S_POD_INFRA_CONTAINER_ID=abc;IgnoreUnknown=1"),
      prev: chance(verb === "DEL" || verb === "CHECK" ? 0.7 : 0.05),
      seed: fc.integer({ min: 0, max: 1 }),
    })
    .chain((s) =>
      pluginKeys(plugin, s.k).map((keys) => {
        const config: Record<string, unknown> = { cniVersion: s.version, name: `${NET_PREFIX[plugin]}${s.k}`, type: plugin, ...keys };
        if (s.prev) config.prevResult = prevResultFor(plugin, s.k, s.version, s.ifname);
        if (verb === "GC") config["cni.dev/valid-attachments"] = s.seed ? [] : [{ containerID: "someone-else", ifname: "eth0" }];
        const env: Record<string, string> = { CNI_COMMAND: verb, CNI_CONTAINERID: s.id, CNI_NETNS: "$POD", CNI_IFNAME: s.ifname, CNI_PATH: "$BIN" };
        if (s.args) env.CNI_ARGS = s.args;
        return { plugin, verb, exec: s.exec, env, config };
      }),
    );
}

// ---- hostile values -------------------------------------------------------------------------

const nestedArrays = (depth: number): unknown => {
  let v: unknown = [];
  for (let i = 1; i < depth; i++) v = [v];
  return v;
};

/** Values no config should hold: wrong types, extremes, control and non-ASCII characters, nesting. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 0.5, -0, 65536, 4294967296, 2 ** 53 + 1, 1e308, -1e308),
  fc.integer(),
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.string({ unit: "grapheme", maxLength: 30 }),
  fc.constantFrom("", " ", "\n", "a\nb", "\u0000", "eth0\u0000x", "\r\n", "\t", "../../x", "-x", "a b", "#c", "\"q'", "\u202e", "é", "𝕏", "cni0\n", "1.2.3.4", "::", "0.0.0.0/0"),
  fc.integer({ min: 16, max: 4096 }).map((n) => "x".repeat(n)),
  fc.constantFrom("y".repeat(100_000), "é".repeat(50_000)),
  fc.jsonValue({ maxDepth: 3 }),
  // Deeper nesting is made as text (targeted changes, regressions): fast-check copies values recursively.
  fc.integer({ min: 10, max: 300 }).map(nestedArrays),
  fc.constant({}),
  fc.constant([]),
);

/** Names for keys: ordinary, unknown, and hostile. */
const keyName = fc.oneof(fc.constantFrom("type", "mtu", "ipam", "dns", "args", "runtimeConfig", "extra", "__proto__", "constructor", ""), fc.string({ unit: "binary", maxLength: 12 }));

type Path = (string | number)[];

/** Every path to a value inside `v` (objects and arrays, not the root). */
function paths(v: unknown, prefix: Path = []): Path[] {
  if (typeof v !== "object" || v === null) return [];
  const out: Path[] = [];
  for (const [k, child] of Object.entries(v)) {
    const p = [...prefix, Array.isArray(v) ? Number(k) : k];
    out.push(p, ...paths(child, p));
  }
  return out;
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

function setAt(root: Record<string, unknown>, path: Path, value: unknown, remove = false): void {
  let o: Record<string | number, unknown> = root;
  for (const p of path.slice(0, -1)) {
    const next = o[p];
    if (typeof next !== "object" || next === null) return;
    o = next as Record<string | number, unknown>;
  }
  const last = path[path.length - 1];
  // A named key on an array would break every copy of it (Array methods read its "constructor"): append instead.
  if (!remove && Array.isArray(o) && typeof last === "string") {
    o.push(value);
    return;
  }
  if (remove) {
    if (Array.isArray(o)) o.splice(Number(last), 1);
    else delete o[last];
  } else {
    Object.defineProperty(o, last, { value, enumerable: true, writable: true, configurable: true });
  }
}

/**
 * One change anywhere: a value replaced by a hostile one, a key removed, or a new key added. The
 * value is copied in: fast-check hands out one instance of a constant, which a later change of the
 * same input would otherwise change (or make cyclic) for every input after it.
 */
const anyChange = (config: Record<string, unknown>): fc.Arbitrary<{ what: string; apply: (c: Record<string, unknown>) => void }> => {
  const all = paths(config);
  return fc.oneof(
    fc.tuple(fc.constantFrom(...all), hostileValue).map(([p, v]) => ({ what: `set ${p.join(".")}`, apply: (c: Record<string, unknown>) => setAt(c, p, structuredClone(v)) })),
    fc.constantFrom(...all).map((p) => ({ what: `remove ${p.join(".")}`, apply: (c: Record<string, unknown>) => setAt(c, p, undefined, true) })),
    fc.tuple(fc.constantFrom<Path>([], ...all), keyName, hostileValue).map(([p, k, v]) => ({ what: `add ${[...p, k].join(".")}`, apply: (c: Record<string, unknown>) => setAt(c, [...p, k], structuredClone(v)) })),
  );
};

/** Environment values that are wrong. */
const badIds = fc.oneof(fc.constantFrom("", "-lead", ".x", "a b", "a\nb", "a/b", "é", "x".repeat(1025), "id;rm", "a\tb"), fc.string({ unit: "binary", minLength: 1, maxLength: 20 }).filter((s) => !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(s)));
const badIfnames = fc.oneof(fc.constantFrom("", ".", "..", "a/b", "a:b", "a b", "eth0\n", "x".repeat(16), "é", "-x", "#x", "a\"b"), fc.string({ unit: "binary", minLength: 16, maxLength: 30 }));
const badPaths = fc.constantFrom("relative/ns", "netns", "/run/netns/x\ny", "/run/netns/../netns/x\r");
const badArgs = fc.constantFrom("a", "=x", "a=b=c", "IgnoreUnknown=1;b", "K8S_POD_NAME");

/** Env values may not hold NUL (no process can receive one); everything else can reach a plugin. */
const noNul = (s: string) => s.replace(/\0/g, "");

type Targeted = { what: string; expect: Expectation; env?: (e: Record<string, string>) => void; config?: (c: Record<string, unknown>) => void; text?: (t: string) => string };

const attachmentVerb = (v: Verb) => v === "ADD" || v === "DEL" || v === "CHECK";

/** Changes with a known answer, for a well-formed `w`. */
function targeted(w: WellFormed): fc.Arbitrary<Targeted> {
  const versionOnly = w.verb === "VERSION";
  const e = (codes: number[]): Expectation => (versionOnly ? { ok: true } : { codes });
  const choices: fc.Arbitrary<Targeted>[] = [
    fc.integer({ min: 0, max: 400 }).map((n) => ({ what: "stdin truncated", expect: e([6]), text: (t: string) => t.slice(0, Math.min(n, t.length - 1)) })),
    fc.constantFrom("[]", '"x"', "1", "null", "true", "[{}]", "", " ").map((t) => ({ what: `stdin is ${JSON.stringify(t)}`, expect: e([6]), text: () => t })),
    fc.string({ unit: "binary", maxLength: 40 }).map((s) => ({ what: "stdin is garbage", expect: e([6]), text: () => `#${s}` })),
    fc.tuple(fc.nat(), fc.constantFrom("\u0000", "\u0001", "\u001f", "\n\u0000")).map(([i, ch]) => ({
      what: `raw ${JSON.stringify(ch)} in stdin`,
      expect: e([6]),
      // Inside a string a raw control character is invalid JSON, and so is one between tokens (\n alone would not be).
      text: (t: string) => {
        const at = 1 + (i % (t.length - 1));
        return t.slice(0, at) + ch + t.slice(at);
      },
    })),
    fc.constantFrom(undefined, "0.2.0", "0.1.0", "2.0.0", "1.0", "", "1.0.0\n", " 1.0.0", "1.0.0\u0000", "１.0.0", 1, 1.1, null, [], {}).map((v) => ({
      what: `cniVersion ${JSON.stringify(v) ?? "removed"}`,
      expect: e([1]),
      config: (c: Record<string, unknown>) => (v === undefined ? delete c.cniVersion : (c.cniVersion = v)),
    })),
    fc.constantFrom(undefined, "", "a b", "-x", "_x", "a/b", ".", "..", "é", "x\n", "a\u0000b", "n".repeat(256), 7, null, ["x"]).map((v) => ({
      what: `name ${JSON.stringify(v) ?? "removed"}`,
      expect: e([7]),
      config: (c: Record<string, unknown>) => (v === undefined ? delete c.name : (c.name = v)),
    })),
    fc.constantFrom("", "add", "Add", "ADD ", "DELETE", "version", "GC\n", "ÄDD").map((v) => ({ what: `CNI_COMMAND ${JSON.stringify(v)}`, expect: { codes: [4] }, env: (x: Record<string, string>) => (v === "" ? delete x.CNI_COMMAND : (x.CNI_COMMAND = v)) })),
    badArgs.map((v) => ({ what: `CNI_ARGS ${JSON.stringify(v)}`, expect: e([4]), env: (x: Record<string, string>) => (x.CNI_ARGS = v) })),
    // Well-formed pairs with values a plugin must check: an address outside the range or not one, a MAC that is not one.
    fc.constantFrom("IP=10.99.0.5", "IP=garbage", "IP=10.71.0.5,10.71.0.6", "IP=", "MAC=zz", "MAC=02:00:00:00:00:01", "MAC=", "IP=::1;MAC=ff:ff:ff:ff:ff:ff").map((v) => ({
      what: `CNI_ARGS ${v}`,
      expect: { any: true } as Expectation,
      env: (x: Record<string, string>) => (x.CNI_ARGS = `IgnoreUnknown=1;${v}`),
    })),
    hostileValue.map((v) => ({ what: "prevResult replaced", expect: { any: true } as Expectation, config: (c: Record<string, unknown>) => (c.prevResult = structuredClone(v)) })),
    hostileValue.map((v) => ({ what: "runtimeConfig replaced", expect: { any: true } as Expectation, config: (c: Record<string, unknown>) => (c.runtimeConfig = structuredClone(v)) })),
    fc.constantFrom("$DATA/rel/../x", "$DATA/with space").map((v) => ({ what: `ipam.dataDir ${v}`, expect: { any: true }, config: (c: Record<string, unknown>) => setIpamDataDir(c, v) })),
    fc.constantFrom("relative/dir", "$DATA/x\ny", "$DATA/x\u0000y", "").map((v) => ({ what: `ipam.dataDir ${JSON.stringify(v)}`, expect: hasIpam(w.config) ? e([7]) : { any: true }, config: (c: Record<string, unknown>) => setIpamDataDir(c, v) })),
    fc.tuple(fc.constantFrom("cniVersion", "name", "type", "ipam"), hostileValue).map(([key, bogus]) => ({
      // The same key twice: the last one counts (JSON.parse and Go's encoding/json agree), so this is the well-formed input.
      what: `${key} given twice, the first bogus`,
      expect: { valid: true } as Expectation,
      text: (t: string) => (key in w.config ? `{${JSON.stringify(key)}:${JSON.stringify(bogus) ?? "null"},${t.slice(1)}` : t),
    })),
    fc.integer({ min: 10, max: 200_000 }).map((depth) => ({ what: `args nested ${depth} deep`, expect: e([6, 7]), text: (t: string) => `{"args":${"[".repeat(depth)}${"]".repeat(depth)},${t.slice(1)}` })),
  ];
  // Numbers no MTU can be, written as JSON text (1e999 is Infinity to JSON.parse). host-local reads only `ipam`.
  choices.push(
    fc.constantFrom("1e999", "-1e999", "123456789012345678901234567890", "65536", "-1", "1.5", '"1500"', "true").map((v) => ({
      what: `mtu ${v}`,
      expect: w.plugin === "host-local" ? ({ valid: true } as Expectation) : e([7]),
      config: (c: Record<string, unknown>) => delete c.mtu,
      text: (t: string) => `{"mtu":${v},${t.slice(1)}`,
    })),
  );
  // CNI_PATH: where IPAM is looked up. Missing or wrong, an ADD with IPAM cannot find it; any answer of the spec will do.
  choices.push(
    fc.constantFrom("", "/nonexistent", "relative/bin", "/nonexistent:$BIN", "$BIN/../bin", "$BIN\n").map((v) => ({
      what: `CNI_PATH ${JSON.stringify(v)}`,
      expect: { any: true } as Expectation,
      env: (x: Record<string, string>) => (v === "" ? delete x.CNI_PATH : (x.CNI_PATH = v)),
    })),
  );
  // Names of the operator's links (the bridge, a master) that no kernel would take or `ip` could misread.
  const linkKey = w.plugin === "bridge" ? "bridge" : w.plugin === "macvlan" || w.plugin === "ipvlan" ? "master" : undefined;
  if (linkKey) {
    choices.push(
      // The kernel takes none of these (dev_valid_name), nor values that are not strings: code 7.
      fc.constantFrom("a\u0000b", "br\n0", "x".repeat(16), "a b", "a/b", "a:b", "", ".", "..", 0, null, ["eth0"]).map((v) => ({
        what: `${linkKey} ${JSON.stringify(v)}`,
        expect: e([7]),
        config: (c: Record<string, unknown>) => (c[linkKey] = v),
      })),
      // These the kernel would take, but `ip` or a shell could misread: refused or used safely, either is right.
      fc.constantFrom("é", "-x", "#c", "a\"b", "x\\y", "$(id)").map((v) => ({
        what: `${linkKey} ${JSON.stringify(v)}`,
        expect: { any: true } as Expectation,
        config: (c: Record<string, unknown>) => (c[linkKey] = v),
      })),
    );
  }
  if (attachmentVerb(w.verb)) {
    choices.push(
      badIds.map((v) => ({ what: `CNI_CONTAINERID ${JSON.stringify(v)}`, expect: { codes: [4] }, env: (x: Record<string, string>) => (v === "" ? delete x.CNI_CONTAINERID : (x.CNI_CONTAINERID = containerIdProblem(noNul(v)) ? noNul(v) : "a b")) })),
      badIfnames.map((v) => ({ what: `CNI_IFNAME ${JSON.stringify(v)}`, expect: { codes: [4] }, env: (x: Record<string, string>) => (v === "" ? delete x.CNI_IFNAME : (x.CNI_IFNAME = interfaceNameProblem(noNul(v)) ? noNul(v) : "x".repeat(16))) })),
      badPaths.map((v) => ({ what: `CNI_NETNS ${JSON.stringify(v)}`, expect: { codes: [4] }, env: (x: Record<string, string>) => (x.CNI_NETNS = v) })),
      fc.constant({
        what: "CNI_NETNS names no namespace",
        // host-local never enters the namespace (nor does the reference's): for it the input is well-formed.
        expect: w.plugin === "host-local" ? ({ valid: true } as Expectation) : w.verb === "DEL" ? ({ ok: true } as Expectation) : { codes: w.verb === "CHECK" ? [4, 7, 8, 102, 103] : [4, 7, 8, 103] }, env: (x: Record<string, string>) => (x.CNI_NETNS = "/run/netns/$RID-none") }),
    );
    if (w.verb !== "DEL") choices.push(fc.constant({ what: "CNI_NETNS missing", expect: { codes: [4] }, env: (x: Record<string, string>) => delete x.CNI_NETNS }));
  }
  if (w.verb === "GC") choices.push(fc.constant({ what: "CNI_PATH missing", expect: { codes: [4] }, env: (x: Record<string, string>) => delete x.CNI_PATH }));
  if (w.verb === "CHECK") choices.push(fc.constantFrom("0.3.0", "0.3.1").map((v) => ({ what: `CHECK with ${v}`, expect: { codes: [1] }, config: (c: Record<string, unknown>) => dropPrevResult(c, v) })));
  if (w.verb === "GC" || w.verb === "STATUS") choices.push(fc.constantFrom("0.4.0", "1.0.0").map((v) => ({ what: `${w.verb} with ${v}`, expect: { codes: [1] }, config: (c: Record<string, unknown>) => (c.cniVersion = v) })));
  return fc.oneof(...choices);
}

const hasIpam = (c: Record<string, unknown>) => typeof c.ipam === "object" && c.ipam !== null;
function setIpamDataDir(c: Record<string, unknown>, v: string): void {
  if (hasIpam(c)) (c.ipam as Record<string, unknown>).dataDir = v;
}
function dropPrevResult(c: Record<string, unknown>, v: string): void {
  c.cniVersion = v;
  delete c.prevResult;
}

/** Keeps every input away from the host: a store only under our dataDir, files only of ours. */
export function confine(c: unknown): void {
  if (typeof c !== "object" || c === null) return;
  const ipam = (c as Record<string, unknown>).ipam;
  if (typeof ipam !== "object" || ipam === null || Array.isArray(ipam)) return;
  const i = ipam as Record<string, unknown>;
  // No dataDir means /var/lib/cni/networks, the host's store; any other absolute path is the host's too.
  if (typeof i.dataDir !== "string" || (i.dataDir.startsWith("/") && !i.dataDir.startsWith("$DATA"))) i.dataDir = "$DATA";
  if (typeof i.resolvConf === "string") delete i.resolvConf;
}

/** ADD and DEL do the most, so they get the most inputs; VERSION reads nothing. */
const verbArb: fc.Arbitrary<Verb> = fc.oneof(
  { arbitrary: fc.constant<Verb>("ADD"), weight: 4 },
  { arbitrary: fc.constant<Verb>("DEL"), weight: 2 },
  { arbitrary: fc.constant<Verb>("CHECK"), weight: 1 },
  { arbitrary: fc.constant<Verb>("GC"), weight: 1 },
  { arbitrary: fc.constant<Verb>("STATUS"), weight: 1 },
  { arbitrary: fc.constant<Verb>("VERSION"), weight: 1 },
);

/** A fuzz input for `plugin`: well-formed (a quarter), one known change (half), or a few changes anywhere. */
export function fuzzInput(plugin: Plugin): fc.Arbitrary<FuzzInput> {
  return verbArb.chain((verb) =>
    wellFormed(plugin, verb).chain((w) => {
      const plain: FuzzInput = { plugin, verb, exec: w.exec, env: w.env, stdin: { json: w.config }, mutation: "well-formed", expect: { valid: true } };
      const one = targeted(w).map((t): FuzzInput => {
        const env = { ...w.env };
        const config = clone(w.config);
        t.env?.(env);
        t.config?.(config);
        const stdin: StdinSpec = t.text ? { text: t.text(JSON.stringify(config)) } : { json: config };
        return { plugin, verb, exec: w.exec, env, stdin, mutation: t.what, expect: t.expect };
      });
      const many = fc.array(anyChange(w.config), { minLength: 1, maxLength: 3 }).map((changes): FuzzInput => {
        const config = clone(w.config);
        // A bridge keeps its gateway address after DEL; one that a changed subnet reached must not
        // make the next well-formed input's bridge refuse its own: changed inputs get a bridge of their own.
        if (typeof config.bridge === "string") config.bridge = "$RIDbm";
        for (const c of changes) c.apply(config);
        confine(config);
        return { plugin, verb, exec: w.exec, env: w.env, stdin: { json: config }, mutation: changes.map((c) => c.what).join("; "), expect: { any: true } };
      });
      const input = fc.oneof({ arbitrary: fc.constant(plain), weight: 1 }, { arbitrary: one, weight: 2 }, { arbitrary: many, weight: 2 });
      return fc.tuple(input, chance(0.25)).map(([i, twin]) => ({ ...i, twin }));
    }),
  );
}

/** Replaces $RID, $POD, $DATA, $MASTER and $BIN in every string of `v`. */
export function resolve<T>(v: T, ctx: FuzzContext): T {
  const sub = (s: string) => s.replace(/\$RID/g, ctx.rid).replace(/\$POD/g, ctx.podPath).replace(/\$DATA/g, ctx.dataDir).replace(/\$MASTER/g, ctx.master).replace(/\$BIN/g, ctx.bin);
  const walk = (x: unknown): unknown => {
    if (typeof x === "string") return sub(x);
    if (Array.isArray(x)) return x.map(walk);
    if (typeof x === "object" && x !== null) {
      const out: Record<string, unknown> = {};
      for (const [k, val] of Object.entries(x)) Object.defineProperty(out, k, { value: walk(val), enumerable: true, writable: true, configurable: true });
      return out;
    }
    return x;
  };
  return walk(v) as T;
}

/** The exact stdin bytes of a spec, placeholders resolved. */
export function stdinBytes(s: StdinSpec, ctx: FuzzContext): Buffer {
  if ("text" in s) return Buffer.from(resolve(s.text, ctx), "utf8");
  if ("nested" in s) {
    const arrays = "[".repeat(s.nested) + "]".repeat(s.nested);
    if (s.key === undefined) return Buffer.from(arrays);
    return Buffer.from(withKey(s.key, arrays, resolve(s.json ?? {}, ctx)));
  }
  if ("bigString" in s) return Buffer.from(withKey(s.key, `"${"z".repeat(s.bigString)}"`, resolve(s.json, ctx)));
  return Buffer.from(JSON.stringify(resolve(s.json, ctx)), "utf8");
}

/** `{"key":<valueText>, ...rest}` as text (the value may be too big or deep for JSON.stringify). */
function withKey(key: string, valueText: string, rest: Record<string, unknown>): string {
  const tail = JSON.stringify(rest);
  return `{${JSON.stringify(key)}:${valueText}${tail === "{}" ? "}" : "," + tail.slice(1)}`;
}

/** The config object the plugin decodes from a spec, when it is one (for the oracle: its cniVersion). */
export function decodedConfig(s: StdinSpec, ctx: FuzzContext): Record<string, unknown> | undefined {
  // Deep nesting takes JSON.parse seconds to give up on; a huge string is just one more key.
  if ("nested" in s) return undefined;
  if ("bigString" in s) return resolve(s.json, ctx);
  try {
    const v = JSON.parse(stdinBytes(s, ctx).toString("utf8"));
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}
