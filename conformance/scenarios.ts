import { join } from "node:path";
import { check, Run } from "./harness";

/**
 * The scenarios: each a named case, run for every plugin and spec version it applies to. A
 * scenario throws (ScenarioFailure or any error) to fail; what it checks is the spec, so the
 * reference plugins are held to the same cases.
 */
export interface Scenario {
  name: string;
  /** Which versions it runs for (all by default); `once` runs it a single time per plugin. */
  versions?: (v: string) => boolean;
  once?: boolean;
  /** Which plugins it applies to (all by default). */
  applies?: (plugin: string) => boolean;
  run(r: Run): Promise<void>;
}

const atLeast = (v: string, min: string) => v.localeCompare(min, undefined, { numeric: true }) >= 0;
const legacy = (v: string) => v.startsWith("0.");
const IP_FAMILY = (a: string) => (a.includes(":") ? "6" : "4");

interface Result {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { version?: string; address: string; gateway?: string; interface?: number }[];
  routes?: { dst: string; gw?: string }[];
}

/** The result has the shape of its version: 0.x IPs carry `version`, 1.x ones do not. */
function checkShape(res: Result, version: string, netns: string): void {
  check(res.cniVersion === version, `result cniVersion is ${res.cniVersion}, expected ${version}`);
  const ifaces = res.interfaces ?? [];
  const pod = ifaces.findIndex((i) => i.name === "eth0" && i.sandbox === netns);
  check(pod >= 0, "result has no eth0 interface with the pod's sandbox");
  check((res.ips ?? []).length > 0, "result has no IPs");
  for (const ip of res.ips ?? []) {
    check(/\/\d+$/.test(ip.address), `IP ${ip.address} has no prefix`);
    if (legacy(version)) check(ip.version === IP_FAMILY(ip.address), `IP ${ip.address} lacks version "${IP_FAMILY(ip.address)}" required by ${version}`);
    else check(ip.version === undefined, `IP ${ip.address} has a version field, which ${version} does not have`);
    check(ip.interface === undefined || (ip.interface >= 0 && ip.interface < ifaces.length), `IP ${ip.address} names interface ${ip.interface}, out of range`);
  }
}

/** The kernel agrees with the result: the pod's interface carries the result's addresses and routes. */
async function checkKernel(r: Run, res: Result, netns: string): Promise<void> {
  const ns = netns.split("/").pop()!;
  const addrs = (await r.inNode("ip", "-n", ns, "-o", "addr", "show", "dev", "eth0")).stdout;
  for (const ip of res.ips ?? []) check(addrs.includes(` ${ip.address} `), `pod interface lacks ${ip.address}`);
  const routes = (await r.inNode("ip", "-n", ns, "route", "show")).stdout;
  for (const route of res.routes ?? []) {
    const dst = route.dst === "0.0.0.0/0" ? "default" : route.dst;
    check(routes.includes(dst), `pod lacks the route to ${route.dst}`);
  }
}

/** Nothing of the pod is left: no veth in the node, no reservation, no netfilter entry for its address. */
async function checkNothingLeft(r: Run, addresses: string[]): Promise<void> {
  // The node's own master pair (macvlan) is not the pod's.
  const veths = (await r.inNode("ip", "-o", "link", "show", "type", "veth")).stdout.trim().split("\n").filter((l) => l && !/ mst0p?@/.test(l)).join("\n");
  check(veths === "", `veths left in the node: ${veths.split("\n").map((l) => l.split(":")[1]).join(",")}`);
  check(r.reservations().length === 0, `IPAM reservations left: ${r.reservations().join(",")}`);
  const rules = (await r.inNode("nft", "list", "ruleset")).stdout + (await r.inNode("iptables-save")).stdout;
  for (const a of addresses) {
    const ip = a.split("/")[0];
    check(!new RegExp(`(^|[^0-9.])${ip.replace(/\./g, "\\.")}([^0-9]|$)`, "m").test(rules), `netfilter still mentions ${ip}`);
  }
}

const addressesOf = (res: Result) => (res.ips ?? []).map((i) => i.address);

async function addOne(r: Run, netns: string, id: string, env: Record<string, string> = {}): Promise<Result> {
  const add = await r.driver("add", netns, { CNI_CONTAINERID: id, ...env });
  check(add.code === 0, `ADD failed: ${add.stdout.trim() || add.stderr.trim()}`);
  return add.json as unknown as Result;
}

async function del(r: Run, netns: string, id: string, env: Record<string, string> = {}): Promise<void> {
  const d = await r.driver("del", netns, { CNI_CONTAINERID: id, ...env });
  check(d.code === 0, `DEL failed: ${d.stdout.trim() || d.stderr.trim()}`);
}

const simpleList = (r: Run, extra: Record<string, unknown> = {}) => r.writeConflist({ cniVersion: r.version, plugins: [r.mainPlugin(extra)] });

export const SCENARIOS: Scenario[] = [
  {
    name: "add-check-del",
    async run(r) {
      simpleList(r);
      const pod = await r.pod("p");
      const res = await addOne(r, pod, "c1");
      checkShape(res, r.version, pod);
      await checkKernel(r, res, pod);
      if (atLeast(r.version, "0.4.0")) {
        const c = await r.driver("check", pod, { CNI_CONTAINERID: "c1" });
        check(c.code === 0, `CHECK failed: ${c.stdout.trim()}`);
      }
      await del(r, pod, "c1");
      await checkNothingLeft(r, addressesOf(res));
    },
  },
  {
    name: "del-twice",
    async run(r) {
      simpleList(r);
      const pod = await r.pod("p");
      const res = await addOne(r, pod, "c1");
      await del(r, pod, "c1");
      await del(r, pod, "c1");
      await checkNothingLeft(r, addressesOf(res));
    },
  },
  {
    name: "del-netns-gone",
    async run(r) {
      simpleList(r);
      const pod = await r.pod("p");
      const res = await addOne(r, pod, "c1");
      await r.removePod(pod);
      await del(r, pod, "c1");
      await checkNothingLeft(r, addressesOf(res));
    },
  },
  {
    name: "del-never-added",
    async run(r) {
      simpleList(r);
      const pod = await r.pod("p");
      await del(r, pod, "never-added");
    },
  },
  {
    name: "chain-portmap-tuning-bandwidth",
    // The reference meta plugins (Debian 1.1.1) know versions up to 1.0.0; bandwidth needs a host-side interface.
    versions: (v) => !atLeast(v, "1.1.0"),
    applies: (plugin) => plugin !== "macvlan" && plugin !== "ipvlan",
    async run(r) {
      // Dual-stack: the reference portmap's CHECK insists on its IPv6 chain whenever ip6tables exists.
      const dualStack = { ranges: [[{ subnet: `${r.subnet}.0/24` }], [{ subnet: `fd18:${r.subnet.split(".")[2]}::/64` }]] };
      r.writeConflist({
        cniVersion: r.version,
        plugins: [
          r.mainPlugin({}, dualStack),
          { type: "portmap", capabilities: { portMappings: true } },
          { type: "tuning", mac: "02:11:22:33:44:55" },
          { type: "bandwidth", ingressRate: 1000000, ingressBurst: 100000, egressRate: 1000000, egressBurst: 100000 },
        ],
      });
      const pod = await r.pod("p");
      // A runtime passes the same capability arguments to ADD and DEL.
      const capArgs = { CAP_ARGS: JSON.stringify({ portMappings: [{ hostPort: 18080, containerPort: 80, protocol: "tcp" }] }) };
      const res = await addOne(r, pod, "c1", capArgs);
      check(res.interfaces?.some((i) => i.name === "eth0" && i.mac === "02:11:22:33:44:55"), "tuning's MAC did not reach the final result (prevResult did not flow)");
      check((await r.inNode("iptables-save", "-t", "nat")).stdout.includes("--dport 18080"), "portmap's DNAT rule is missing");

      await del(r, pod, "c1", capArgs);
      check(!(await r.inNode("iptables-save", "-t", "nat")).stdout.includes("--dport 18080"), "portmap's DNAT rule is left after DEL");
      await checkNothingLeft(r, addressesOf(res));
    },
  },
  {
    // CHECK over a chain, with prevResult changed by a later plugin (tuning's MAC). Without
    // portmap: Debian's portmap (1.1.1) fails CHECK by looking for its IPv4 rules in ip6tables.
    name: "chain-check-tuning-bandwidth",
    versions: (v) => atLeast(v, "0.4.0") && !atLeast(v, "1.1.0"),
    applies: (plugin) => plugin !== "macvlan" && plugin !== "ipvlan",
    async run(r) {
      r.writeConflist({
        cniVersion: r.version,
        plugins: [r.mainPlugin(), { type: "tuning", mac: "02:11:22:33:44:66" }, { type: "bandwidth", egressRate: 1000000, egressBurst: 100000 }],
      });
      const pod = await r.pod("p");
      const res = await addOne(r, pod, "c1");
      check(res.interfaces?.some((i) => i.name === "eth0" && i.mac === "02:11:22:33:44:66"), "tuning's MAC did not reach the final result");
      const c = await r.driver("check", pod, { CNI_CONTAINERID: "c1" });
      check(c.code === 0, `CHECK of the chain failed: ${c.stdout.trim()}`);
      await del(r, pod, "c1");
      await checkNothingLeft(r, addressesOf(res));
    },
  },
  {
    name: "version-negotiation",
    once: true,
    async run(r) {
      const info = await r.driverVersion(r.impl.type(r.plugin));
      const supported = (info.json?.supportedVersions ?? []) as string[];
      check(["0.3.1", "0.4.0", "1.0.0"].every((x) => supported.includes(x)), `VERSION lists ${supported.join(",")}`);
      const newest = ["1.1.0", "1.0.0", "0.4.0"].find((x) => supported.includes(x))!;
      r.writeConflist({ cniVersion: "0.3.1", cniVersions: ["0.4.0", "1.0.0", "1.1.0"], plugins: [r.mainPlugin()] });
      const pod = await r.pod("p");
      const res = await addOne(r, pod, "c1");
      check(res.cniVersion === newest, `negotiated ${res.cniVersion}, expected the highest common version ${newest}`);
      await del(r, pod, "c1");
    },
  },
  {
    name: "gc",
    versions: (v) => atLeast(v, "1.1.0"),
    async run(r) {
      simpleList(r);
      const [a, b] = [await r.pod("a"), await r.pod("b")];
      const kept = await addOne(r, a, "kept");
      const leaked = await addOne(r, b, "leaked");
      // The runtime loses track of "leaked": its cache entry goes, its reservation stays.
      await r.removePod(b);
      await import("node:fs").then((fs) => fs.rmSync(join(r.cacheDir, "results", `${r.network}-leaked-eth0`)));
      const gc = await r.driver("gc");
      check(gc.code === 0, `GC failed: ${gc.stdout.trim()}`);
      const left = r.reservations();
      const ip = (res: Result) => res.ips![0].address.split("/")[0];
      check(left.includes(ip(kept)), "GC released a valid attachment's address");
      check(!left.includes(ip(leaked)), "GC kept the leaked attachment's address");
      if (!r.hasHostSide) return await del(r, a, "kept");
      // ipMasq is on: the leaked pod's masquerade entries go, the valid pod's stay.
      const rules = (await r.inNode("nft", "list", "ruleset")).stdout + (await r.inNode("iptables-save", "-t", "nat")).stdout;
      check(rules.includes(`${ip(kept)} `) || rules.includes(`${ip(kept)}/`), "GC removed a valid attachment's masquerade entries");
      check(!rules.includes(`${ip(leaked)} `) && !rules.includes(`${ip(leaked)}/`), "GC kept the leaked attachment's masquerade entries");
      await del(r, a, "kept");
    },
  },
  {
    name: "status",
    versions: (v) => atLeast(v, "1.1.0"),
    async run(r) {
      // A /30 has one address to hand out besides the gateway.
      r.writeConflist({ cniVersion: r.version, plugins: [r.mainPlugin({}, { ranges: [[{ subnet: `${r.subnet}.0/30` }]] })] });
      const ok = await r.driver("status");
      check(ok.code === 0, `STATUS failed on an empty pool: ${ok.stdout.trim()}`);
      const pod = await r.pod("p");
      await addOne(r, pod, "c1");
      const full = await r.driver("status");
      check(full.code !== 0 && [50, 51].includes(Number(full.json?.code)), `STATUS on an exhausted pool answered ${full.stdout.trim() || "success"}, expected code 50`);
      await del(r, pod, "c1");
    },
  },
  {
    name: "bad-input",
    async run(r) {
      const pod = await r.pod("p");
      const binary = join(r.impl.bin, r.impl.type(r.plugin));
      const good: Record<string, unknown> = { cniVersion: r.version, name: r.network, ...r.mainPlugin() };
      const env = { CNI_COMMAND: "ADD", CNI_CONTAINERID: "bad", CNI_NETNS: pod, CNI_IFNAME: "eth0", CNI_PATH: r.impl.path.join(":") };
      const cases: [string, Record<string, string>, string, number][] = [
        ["malformed JSON", env, "{not json", 6],
        ["unknown version", env, JSON.stringify({ ...good, cniVersion: "9.9.9" }), 1],
        ["missing environment", { ...env, CNI_CONTAINERID: "" }, JSON.stringify(good), 4],
        ["invalid config", env, JSON.stringify({ ...good, ipam: { ...(good.ipam as object), ranges: [[{ subnet: "10.0.0.0/33" }]] } }), 7],
        ["unsupported key", env, JSON.stringify({ ...good, notAKey: true }), 2],
      ];
      const wrong: string[] = [];
      for (const [what, e, stdin, code] of cases) {
        const res = await r.direct(binary, e, stdin);
        if (res.code === 0 || Number(res.json?.code) !== code) wrong.push(`${what}: expected code ${code}, got ${res.code === 0 ? "success" : res.json?.code ?? res.stdout.trim()}`);
      }
      check(wrong.length === 0, wrong.join("; "));
      await checkNothingLeft(r, []);
      const links = (await r.inNode("ip", "-o", "link", "show")).stdout;
      check(!/ eth0@| veth[0-9a-f]+@/.test(links), "a bad input left a link behind");
    },
  },
  {
    name: "concurrency-20",
    async run(r) {
      simpleList(r);
      const pods = await Promise.all(Array.from({ length: 20 }, (_, i) => r.pod(`c${i}`)));
      const adds = await Promise.all(pods.map((p, i) => r.driver("add", p, { CNI_CONTAINERID: `pod${i}` })));
      const failed = adds.filter((a) => a.code !== 0);
      check(failed.length === 0, `${failed.length} of 20 ADDs failed: ${failed[0]?.stdout.trim()}`);
      const addresses = adds.map((a) => addressesOf(a.json as unknown as Result)[0]);
      check(new Set(addresses).size === 20, "two pods got the same address");
      const dels = await Promise.all(pods.map((p, i) => r.driver("del", p, { CNI_CONTAINERID: `pod${i}` })));
      check(dels.every((d) => d.code === 0), "a DEL failed");
      await checkNothingLeft(r, addresses);
    },
  },
  {
    name: "connectivity",
    async run(r) {
      simpleList(r);
      const [a, b] = [await r.pod("a"), await r.pod("b")];
      const ra = await addOne(r, a, "a");
      const rb = await addOne(r, b, "b");
      const ping = (from: string, to: string) => r.inNode("ip", "netns", "exec", from.split("/").pop()!, "ping", "-c", "1", "-W", "1", to);
      const ipOf = (res: Result) => res.ips![0].address.split("/")[0];
      check((await ping(a, ipOf(rb))).code === 0, "pod a cannot reach pod b on the same bridge");
      if (r.hasHostSide) check((await ping(b, `${r.subnet}.1`)).code === 0, "pod b cannot reach the gateway");
      void ra;
      await del(r, a, "a");
      await del(r, b, "b");
    },
  },
];
