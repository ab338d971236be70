import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyBestEffort, applyPlan, groupIntoBatches, KernelError, Runner, sysctlPath, undoPlan } from "./apply";
import { addAddress, addRoute, addVeth, nftScript, Plan, setLink, setSysctl } from "./ops";
import { createTracer } from "./trace";

const ns = "/run/netns/pod1";
const plan = (): Plan => [
  addVeth({ name: "veth1", peer: "eth0", peerNetns: ns }),
  setLink({ name: "veth1", up: true }),
  setSysctl({ key: "net.ipv4.ip_forward", value: 1 }),
  addAddress({ netns: ns, dev: "eth0", address: "10.0.0.2/24" }),
  setLink({ netns: ns, name: "eth0", up: true }),
  nftScript({ script: "add table inet a\n" }),
  nftScript({ script: "add table inet b\n" }),
];

function recorder(fail?: (argv: string[], input: string) => string | undefined) {
  const calls: { argv: string[]; input: string }[] = [];
  const runner: Runner = async (argv, input) => {
    calls.push({ argv, input });
    const err = fail?.(argv, input);
    return err ? { code: 1, stdout: "", stderr: err } : { code: 0, stdout: "", stderr: "" };
  };
  return { calls, runner };
}

test("groupIntoBatches() joins neighbours with the same tool and namespace, never nft scripts", () => {
  expect(groupIntoBatches(plan()).map((b) => [b.tool, b.netns, b.ops.length])).toEqual([
    ["ip", undefined, 2],
    ["sysctl", undefined, 1],
    ["ip", ns, 2],
    ["nft", undefined, 1],
    ["nft", undefined, 1],
  ]);
});

test("applyPlan() runs one process per batch and writes host sysctls without one", async () => {
  const { calls, runner } = recorder();
  const sysctls: string[] = [];
  await applyPlan(plan(), { runner, writeSysctl: (k, v) => sysctls.push(`${k}=${v}`) });
  expect(calls.map((c) => c.argv.join(" "))).toEqual(["ip -batch -", `nsenter --net=${ns} ip -batch -`, "nft -f -", "nft -f -"]);
  expect(calls[0].input).toBe(`link add veth1 type veth peer name eth0 netns ${ns}\nlink set dev veth1 up\n`);
  expect(calls[1].input).toBe("addr add 10.0.0.2/24 dev eth0\nlink set dev eth0 up\n");
  expect(sysctls).toEqual(["net.ipv4.ip_forward=1"]);
});

test("applyPlan() undoes what took effect when a batch line fails, and says which", async () => {
  // The container batch fails on its second line: the first line and the host batch took effect.
  const { calls, runner } = recorder((argv) => (argv[0] === "nsenter" && argv.includes("-batch") && !argv.includes("-force") ? "RTNETLINK answers: File exists\nCommand failed -:2\n" : undefined));
  const err = await applyPlan(plan(), { runner, writeSysctl: () => undefined }).catch((e) => e);
  expect(err).toBeInstanceOf(KernelError);
  expect(err).toMatchObject({ code: 103, applied: 4, message: `kernel operation failed: nsenter --net=${ns} ip link set dev eth0 up`, details: "RTNETLINK answers: File exists\nCommand failed -:2" });
  const undo = calls.slice(2);
  expect(undo.map((c) => [c.argv.join(" "), c.input])).toEqual([
    [`nsenter --net=${ns} ip -force -batch -`, "addr del 10.0.0.2/24 dev eth0\n"],
    ["ip -force -batch -", "link del veth1\n"],
  ]);
});

test("applyPlan() fails on a host sysctl that cannot be written unless it is optional", async () => {
  const { runner } = recorder();
  const broken = () => {
    throw new Error("ENOENT");
  };
  await expect(applyPlan([setSysctl({ key: "net.ipv6.conf.x.accept_ra", value: 0, optional: true })], { runner, writeSysctl: broken })).resolves.toBeUndefined();
  await expect(applyPlan([setSysctl({ key: "net.ipv6.conf.x.accept_ra", value: 0 })], { runner, writeSysctl: broken })).rejects.toMatchObject({ code: 103 });
});

test("undoPlan() reverses the order and keeps namespaces", () => {
  const done = [addVeth({ name: "v1", peer: "p1" }), addRoute({ netns: ns, dst: "10.1.0.0/16", gw: "10.0.0.1" })];
  expect(undoPlan(done)).toEqual([
    { tool: "ip", netns: ns, argv: ["route", "del", "10.1.0.0/16", "via", "10.0.0.1"] },
    { tool: "ip", netns: undefined, argv: ["link", "del", "v1"] },
  ]);
});

test("applyBestEffort() keeps going past failures and runs ip with -force", async () => {
  const { calls, runner } = recorder(() => "Cannot find device");
  const results = await applyBestEffort([setLink({ name: "a", up: true }), nftScript({ script: "x\n" })], { runner });
  expect(results.map((r) => r.code)).toEqual([1, 1]);
  expect(calls[0].argv).toEqual(["ip", "-force", "-batch", "-"]);
});

test("sysctlPath() maps dotted and slash keys under /proc/sys", () => {
  expect(sysctlPath("net.ipv4.ip_forward")).toBe("/proc/sys/net/ipv4/ip_forward");
  expect(sysctlPath("net/ipv4/conf/eth0.100/rp_filter")).toBe("/proc/sys/net/ipv4/conf/eth0.100/rp_filter");
});

test("the trace gets each batch as shell commands, to stderr or a file", async () => {
  const lines: string[] = [];
  const { runner } = recorder();
  const trace = createTracer({ PATCHCORD_TRACE: "stderr", CNI_COMMAND: "ADD", CNI_CONTAINERID: "c1" }, "bridge", (t) => lines.push(t));
  await applyPlan([setLink({ name: "cni0", up: true })], { runner, trace });
  expect(lines.join("")).toBe("# bridge ADD container=c1 ifname= netns=\nip link set dev cni0 up\n");

  const dir = mkdtempSync(join(tmpdir(), "pc-trace-unit-"));
  const file = join(dir, "trace.log");
  const toFile = createTracer({ PATCHCORD_TRACE: file }, "x", () => undefined);
  await applyPlan([setLink({ name: "a", up: true })], { runner, trace: toFile });
  expect(readFileSync(file, "utf8")).toContain("ip link set dev a up\n");
  rmSync(dir, { recursive: true });

  const off = createTracer({}, "x", (t) => lines.push(t));
  expect(off.enabled).toBe(false);
});
