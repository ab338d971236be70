import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyPlan, KernelError } from "../../shared/kernel/apply";
import { addAddress, addRoute, addVeth, Plan, renderScript, setLink, setSysctl } from "../../shared/kernel/ops";
import { runCommand } from "../../shared/kernel/run";
import { createTracer } from "../../shared/kernel/trace";
import { isRoot, runId, testIf } from "./helpers";

// The planner's output applied to the real kernel: one host-side veth end with a unique name and a
// throwaway namespace for the container side; everything is removed in afterAll.
const it = testIf(isRoot, "needs root to create network namespaces");
const rid = runId();
const ns = `${rid}ns`;
const nsPath = `/run/netns/${ns}`;
const host = `${rid}h`;
const bad = `${rid}x`;
const sh = (...argv: string[]) => runCommand(argv);
const json = async (...argv: string[]) => JSON.parse((await sh(...argv)).stdout || "[]");

beforeAll(async () => {
  if (isRoot) expect((await sh("ip", "netns", "add", ns)).code).toBe(0);
});
afterAll(async () => {
  if (!isRoot) return;
  await sh("ip", "link", "del", host);
  await sh("ip", "link", "del", bad);
  await sh("ip", "netns", "del", ns);
});

const plan = (): Plan => [
  addVeth({ name: host, peer: "eth0", peerNetns: nsPath, mtu: 1400 }),
  setLink({ name: host, up: true }),
  addAddress({ dev: host, address: "198.18.77.1/30" }),
  setLink({ netns: nsPath, name: "lo", up: true }),
  setLink({ netns: nsPath, name: "eth0", up: true }),
  addAddress({ netns: nsPath, dev: "eth0", address: "198.18.77.2/30" }),
  addRoute({ netns: nsPath, dst: "default", gw: "198.18.77.1" }),
  setSysctl({ netns: nsPath, key: "net.ipv4.conf.eth0.arp_notify", value: 1 }),
];

it("applyPlan() wires a veth pair across namespaces and traces exactly what it ran", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pc-trace-"));
  const traceFile = join(dir, "trace.sh");
  const trace = createTracer({ PATCHCORD_TRACE: traceFile }, "kernel-test", () => undefined);
  const calls: string[][] = [];
  await applyPlan(plan(), {
    trace,
    runner: (argv, input) => {
      calls.push(argv);
      return runCommand(argv, input);
    },
  });
  // Three processes: host ip batch, container ip batch, container sysctl.
  expect(calls).toEqual([
    ["ip", "-batch", "-"],
    ["nsenter", `--net=${nsPath}`, "ip", "-batch", "-"],
    ["nsenter", `--net=${nsPath}`, "sysctl", "-q", "-w", "net.ipv4.conf.eth0.arp_notify=1"],
  ]);
  const [link] = await json("ip", "-j", "-n", ns, "addr", "show", "dev", "eth0");
  expect(link).toMatchObject({ mtu: 1400, operstate: "UP" });
  expect(link.addr_info.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`)).toContain("198.18.77.2/30");
  const routes = await json("ip", "-j", "-n", ns, "route", "show", "default");
  expect(routes).toEqual([expect.objectContaining({ dst: "default", gateway: "198.18.77.1", dev: "eth0" })]);
  expect((await sh("ip", "netns", "exec", ns, "cat", "/proc/sys/net/ipv4/conf/eth0/arp_notify")).stdout.trim()).toBe("1");
  const ping = await sh("ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "2", "198.18.77.1");
  expect(ping.code).toBe(0);
  const traced = readFileSync(traceFile, "utf8");
  // Without the header and the timing comments, the trace is exactly the rendered plan.
  const commands = traced.split("\n").filter((l) => !l.startsWith("# ")).join("\n");
  expect(commands).toBe(renderScript(plan()));
  rmSync(dir, { recursive: true, force: true });
});

it("applyPlan() undoes what it did when a later operation fails", async () => {
  const failing: Plan = [
    addVeth({ name: bad, peer: "eth9", peerNetns: nsPath }),
    addAddress({ dev: bad, address: "198.18.78.1/30" }),
    addRoute({ dst: "198.18.79.0/24", dev: "nosuchdev0" }),
  ];
  const err = await applyPlan(failing).catch((e) => e);
  expect(err).toBeInstanceOf(KernelError);
  expect(err).toMatchObject({ code: 103, applied: 2 }); // two took effect, then were undone
  expect(err.message).toBe("kernel operation failed: ip route add 198.18.79.0/24 dev nosuchdev0");
  expect((await sh("ip", "link", "show", bad)).code).not.toBe(0);
  expect((await sh("ip", "-n", ns, "link", "show", "eth9")).code).not.toBe(0);
});
