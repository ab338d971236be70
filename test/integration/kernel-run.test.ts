import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "../../shared/kernel/run";
import { ROOT, testIf } from "./helpers";

// scripts/kernel-run.sh, the one way tests and the lab reach a kernel with ipvlan, dummy, 802.1q and
// bridge VLAN filtering: its contract on each guest kernel, the hand-over from a User-Mode Linux that
// does not boot (the Intel AMX crash, reproduced on any host through the shim's simulation), the
// shim's own fix, and that a stopped run leaves no guest process and no job directory behind.
const runner = join(ROOT, "scripts/kernel-run.sh");
const guestDir = join(ROOT, "scripts/guest");
const have = (cmd: string) => ["/usr/bin", "/usr/sbin", "/bin", "/sbin"].some((d) => existsSync(join(d, cmd)));
const it = testIf(have("linux.uml") && have("qemu-system-x86_64"), "needs user-mode-linux and qemu-system-x86 (scripts/setup-system.sh)");
const work = mkdtempSync(join(tmpdir(), "pc-kernel-run-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// Each test chooses the kernels and the shim's simulation itself, whatever the caller's environment says.
const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "KERNEL_RUN" && !k.startsWith("PATCHCORD_XSTATE_")));
const run = (env: Record<string, string>, ...argv: string[]) => runCommand([runner, ...argv], "", { ...baseEnv, ...env });

// One boot checks the whole contract: exit code, separate stdout and stderr, working directory, the
// chosen variables (quotes and spaces intact) and no others, pipes rather than a terminal, a guest
// /run of its own, the host's files, the kernel features, and no network device but lo.
const contract = join(work, "contract.sh");
writeFileSync(
  contract,
  [
    "echo \"guest=$PATCHCORD_GUEST pwd=$PWD carried=$PC_CARRIED leaked=${PC_LEAKED:-none}\"",
    "[ -t 1 ] || [ -t 2 ] && echo 'a terminal'",
    "echo 'to stderr' >&2; echo 'reopened' > /dev/stderr",
    "ls /run/netns >/dev/null && : > /run/pc-guest-only && echo \"hostfile=$(cat \"$1/host-file\")\"",
    "echo 'written in the guest' > \"$1/guest-file\"",
    "ip -o link show | awk -F': ' '{print \"link \" $2}'",
    "ip link add pcd0 type dummy && ip link add link pcd0 name pcd0.7 type vlan id 7 && ip link add link pcd0 name pciv0 type ipvlan mode l2 && echo 'dummy vlan ipvlan'",
    "ip link add pcbr0 type bridge vlan_filtering 1 && echo 'vlan_filtering'",
    "exit 7",
  ].join("\n"),
);
writeFileSync(join(work, "host-file"), "from the host");
const expectContract = (r: { code: number; stdout: string; stderr: string }, kind: string) => {
  expect(r.stderr).toBe("to stderr\nreopened\n");
  expect(r.stdout).toBe(`guest=${kind} pwd=${work} carried=a 'b' "c" d leaked=none\nhostfile=from the host\nlink lo\ndummy vlan ipvlan\nvlan_filtering\n`);
  expect(r.code).toBe(7);
  expect(readFileSync(join(work, "guest-file"), "utf8")).toBe("written in the guest\n");
  expect(existsSync("/run/pc-guest-only")).toBe(false);
};
const runContract = (env: Record<string, string>) =>
  runCommand(["/bin/sh", "-c", `cd "$1" && shift && exec "$@"`, "_", work, runner, "--", "bash", contract, work], "", {
    ...baseEnv,
    PC_CARRIED: `a 'b' "c" d`,
    PC_LEAKED: "should stay outside",
    KERNEL_RUN_ENV: "PC_CARRIED",
    ...env,
  });
const simulatedAmx = { PATCHCORD_XSTATE_SIMULATE: "11008" };
let umlBootsHere = false;

it("User-Mode Linux keeps the contract where it boots", async () => {
  const r = await runContract({ KERNEL_RUN: "uml" });
  if (r.code === 125) {
    // UML may not boot on this CPU (the hand-over below covers that); it must at least be installed.
    expect(r.stderr).toMatch(/User-Mode Linux: it did not start the command: /);
    console.warn(`User-Mode Linux does not boot here: ${r.stderr.trim()}`);
    return;
  }
  expectContract(r, "uml");
  umlBootsHere = true;
}, 120_000);

it("the QEMU VM keeps the contract on every host", async () => {
  expectContract(await runContract({ KERNEL_RUN: "vm" }), "vm");
}, 300_000);

it("a User-Mode Linux that dies at boot (the AMX crash) hands over to the VM, which runs the command once", async () => {
  const r = await run({ ...simulatedAmx, PATCHCORD_XSTATE_FIX: "0" }, "--", "sh", "-c", 'echo "ran in $PATCHCORD_GUEST"; exit 3');
  expect(r.stderr).toMatch(/^kernel-run: User-Mode Linux cannot run the command here \(it did not start the command: userspace - ptrace set fp regs failed, errno = 14; Kernel panic.*\); trying the QEMU VM\n$/);
  expect([r.code, r.stdout]).toEqual([3, "ran in vm\n"]);
}, 300_000);

it("with only User-Mode Linux to try and the crash, nothing runs and the reason is given (exit 125)", async () => {
  const r = await run({ ...simulatedAmx, PATCHCORD_XSTATE_FIX: "0", KERNEL_RUN: "uml" }, "--", "touch", join(work, "must-not-exist"));
  expect(r.code).toBe(125);
  expect(r.stderr).toMatch(/^kernel-run: no guest kernel can run commands on this host:\n {2}User-Mode Linux: it did not start the command: userspace - ptrace set fp regs failed, errno = 14/);
  expect(existsSync(join(work, "must-not-exist"))).toBe(false);
}, 120_000);

it("the XSAVE shim lets User-Mode Linux boot where the host wants whole-sized register writes, and the guest checks its vector registers first", async () => {
  const k = start(["--", "sh", "-c", 'echo "ran in $PATCHCORD_GUEST"'], { ...simulatedAmx, KERNEL_RUN: "uml", KERNEL_RUN_KEEP: "1" });
  const code = await k.exited;
  const [job] = k.jobs();
  const log = job ? readFileSync(join("/var/tmp", job, "console"), "utf8") : "";
  for (const j of k.jobs()) rmSync(join("/var/tmp", j), { recursive: true, force: true });
  if (!umlBootsHere) {
    // Where UML does not boot at all, the simulation has nothing to show.
    expect(code).toBe(125);
    return;
  }
  expect([code, k.stdout(), k.stderr()]).toEqual([0, "ran in uml\n", ""]);
  expect(log).toMatch(/fpu-check: every thread's vector registers survived\nkernel-run guest: vector registers checked under the XSAVE shim: intact\n/);
}, 120_000);

it("a UML whose rewritten register writes lose state is caught by the guest's check, and the VM runs the command", async () => {
  const r = await run({ ...simulatedAmx, PATCHCORD_XSTATE_FIX: "lossy" }, "--", "sh", "-c", 'echo "ran in $PATCHCORD_GUEST"');
  expect([r.code, r.stdout]).toEqual([0, "ran in vm\n"]);
  // The lost register state may garble the guest's shell before the check fails: text may come first.
  if (umlBootsHere) expect(r.stderr).toMatch(/^kernel-run: User-Mode Linux cannot run the command here \(it did not start the command: ([\s\S]*; )?vector registers did not survive this kernel's context switches \(fpu-check failed\)\); trying the QEMU VM\n$/);
}, 300_000);

it("the XSAVE shim makes a short write whole and keeps the state past it (the host alone refuses it)", async () => {
  const check = join(work, "xstate-check");
  const built = await runCommand(["cc", "-O2", "-Wall", "-Werror", "-mavx", "-o", check, join(guestDir, "uml-xstate-check.c")]);
  expect(built).toMatchObject({ code: 0, stderr: "" });
  const shim = await runCommand([join(guestDir, "uml-xstate.sh")]);
  expect(shim.code).toBe(0);
  const alone = await runCommand([check], "", baseEnv);
  expect([alone.code, alone.stdout]).toEqual([2, "set: EFAULT\n"]);
  const shimmed = await runCommand([check], "", { ...baseEnv, LD_PRELOAD: shim.stdout.trim() });
  expect([shimmed.code, shimmed.stdout]).toEqual([0, "ok\n"]);
}, 60_000);

// A guest that crashes in the middle of the command (sysrq c: a kernel panic) under User-Mode Linux.
const crashInUml = ["sh", "-c", 'if [ "$PATCHCORD_GUEST" = uml ]; then echo c > /proc/sysrq-trigger; sleep 30; fi; echo "ran in $PATCHCORD_GUEST"'];

it("a guest that stops in the middle of the command is an error of its own (exit 123, with its console)", async () => {
  const r = await run({ KERNEL_RUN: "uml vm" }, "--", ...crashInUml);
  if (!umlBootsHere) return expect([r.code, r.stdout]).toEqual([0, "ran in vm\n"]);
  expect(r.code).toBe(123);
  expect(r.stdout).toBe("");
  expect(r.stderr).toMatch(/^kernel-run: User-Mode Linux stopped before the command finished; the end of its console:\n[^]*sysrq: Trigger a crash/);
}, 120_000);

it("--rerun runs such a command again on the next kernel", async () => {
  const r = await run({}, "--rerun", "--", ...crashInUml);
  expect([r.code, r.stdout]).toEqual([0, "ran in vm\n"]);
  if (umlBootsHere) expect(r.stderr).toMatch(/^kernel-run: User-Mode Linux stopped before the command finished \(.*\); running it again in the QEMU VM\n$/);
}, 300_000);

/** kernel-run started as a runtime would, with its PID, so that its job and its guest can be found. */
function start(argv: string[], env: Record<string, string> = {}) {
  const child = spawn(runner, argv, { stdio: ["ignore", "pipe", "pipe"], env: { ...baseEnv, ...env } });
  let stdout = "";
  child.stdout.on("data", (c) => (stdout += c));
  let stderr = "";
  child.stderr.on("data", (c) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const tag = `patchcord-guest.${child.pid}.`;
  const jobs = () => readdirSync("/var/tmp").filter((d) => d.startsWith(tag));
  // Any process whose command line names the job: UML's init= and pcg_job=, QEMU's -append.
  const guestProcesses = () =>
    readdirSync("/proc")
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, "utf8").includes(tag);
        } catch {
          return false;
        }
      });
  return { child, exited, jobs, guestProcesses, stdout: () => stdout, stderr: () => stderr };
}

it("--timeout stops the guest (exit 124) and leaves no guest process or job behind", async () => {
  const began = Date.now();
  const k = start(["--timeout", "25", "--", "sleep", "600"]);
  expect(await k.exited).toBe(124);
  expect(Date.now() - began).toBeLessThan(60_000);
  expect(k.stderr()).toMatch(/did not finish within 25 s .*; stopped it\n$/);
  expect(k.jobs()).toEqual([]);
  expect(k.guestProcesses()).toEqual([]);
}, 120_000);

it("an interrupted run (SIGINT) stops the guest, exits 130 and leaves nothing behind", async () => {
  const k = start(["--", "sleep", "600"]);
  const started = () => k.jobs().some((j) => existsSync(join("/var/tmp", j, "started")));
  for (let i = 0; i < 600 && !started(); i++) await new Promise((r) => setTimeout(r, 100));
  expect(started()).toBe(true);
  expect(k.guestProcesses().length).toBeGreaterThan(0);
  k.child.kill("SIGINT");
  expect(await k.exited).toBe(130);
  expect(k.jobs()).toEqual([]);
  expect(k.guestProcesses()).toEqual([]);
}, 120_000);

it("refuses bad arguments before booting anything", async () => {
  expect(await run({}, "--mem", "lots", "--", "true")).toMatchObject({ code: 2, stderr: "kernel-run: --mem takes a size like 1536M or 2G\n" });
  expect(await run({}, "--mem", "G2", "--", "true")).toMatchObject({ code: 2, stderr: "kernel-run: --mem takes a size like 1536M or 2G\n" });
  expect(await run({}, "--mem")).toMatchObject({ code: 2, stderr: "kernel-run: --mem takes a size like 1536M or 2G\n" });
  for (const t of ["1.5", "0", ""]) expect(await run({}, "--timeout", t, "--", "true")).toMatchObject({ code: 2, stderr: "kernel-run: --timeout takes whole seconds\n" });
  expect(await run({ KERNEL_RUN: "kvm" }, "--", "true")).toMatchObject({ code: 2, stderr: "kernel-run: KERNEL_RUN names uml and vm, not kvm\n" });
  expect(await run({ KERNEL_RUN_ENV: "A;B" }, "--", "true")).toMatchObject({ code: 2, stderr: "kernel-run: KERNEL_RUN_ENV has A;B, which is not a variable name\n" });
  expect(await run({})).toMatchObject({ code: 2 });
});
