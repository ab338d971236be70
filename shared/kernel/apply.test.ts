import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CniError } from "../cni/errors";
import { applyBestEffort, applyPlan, groupIntoBatches, KernelError, Runner, sysctlPath, undoOps, undoPlan } from "./apply";
import { addAddress, addRoute, addVeth, deleteLink, nftScript, Op, Plan, renderShell, setLink, setSysctl } from "./ops";
import { RunResult } from "./run";
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

/** A jest.fn runner answering from a queue (then success). */
function queued(...answers: (RunResult | Error)[]) {
  return jest.fn<Promise<RunResult>, [string[], string]>(async () => {
    const a = answers.shift() ?? { code: 0, stdout: "", stderr: "" };
    if (a instanceof Error) throw a;
    return a;
  });
}
const ok: RunResult = { code: 0, stdout: "", stderr: "" };

/** The trace without its timing comments (`# +12.3 ms`, `# +15.0 ms done`), which vary per run. */
const TIMING = /^# \+\d+(\.\d+)? ms( done)?\n/gm;
const untimed = (text: string): string => text.replace(TIMING, "");

const failure = async (p: Promise<unknown>): Promise<KernelError> => {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(KernelError);
  return e as KernelError;
};

describe("groupIntoBatches()", () => {
  test("groupIntoBatches() joins neighbours with the same tool and namespace, never nft scripts", () => {
    expect(groupIntoBatches(plan()).map((b) => [b.tool, b.netns, b.ops.length])).toEqual([
      ["ip", undefined, 2],
      ["sysctl", undefined, 1],
      ["ip", ns, 2],
      ["nft", undefined, 1],
      ["nft", undefined, 1],
    ]);
  });

  test("groupIntoBatches() splits the same tool across namespaces and does not merge non-neighbours", () => {
    const p: Plan = [
      setLink({ name: "a", up: true }),
      setLink({ netns: ns, name: "b", up: true }),
      setLink({ netns: "/run/netns/other", name: "c", up: true }),
      setLink({ netns: "/run/netns/other", name: "d", up: true }),
      setLink({ name: "e", up: true }),
    ];
    expect(groupIntoBatches(p).map((b) => [b.netns, b.ops.length])).toEqual([
      [undefined, 1],
      [ns, 1],
      ["/run/netns/other", 2],
      [undefined, 1],
    ]);
  });

  test("groupIntoBatches() joins sysctls and bridge commands like ip commands, keeping the op order", () => {
    const s1 = setSysctl({ netns: ns, key: "net.ipv4.conf.eth0.arp_notify", value: 1 });
    const s2 = setSysctl({ netns: ns, key: "net.ipv6.conf.eth0.accept_dad", value: 0 });
    const b1: Op = { tool: "bridge", argv: ["vlan", "add", "dev", "v1", "vid", "10"] };
    const b2: Op = { tool: "bridge", argv: ["vlan", "add", "dev", "v2", "vid", "10"] };
    const batches = groupIntoBatches([s1, s2, b1, b2]);
    expect(batches).toHaveLength(2);
    expect(batches[0].ops).toEqual([s1, s2]);
    expect(batches[1].ops).toEqual([b1, b2]);
  });

  test("groupIntoBatches() keeps every nft script in its own batch, even in one namespace", () => {
    const p = [nftScript({ netns: ns, script: "a" }), nftScript({ netns: ns, script: "b" }), nftScript({ netns: ns, script: "c" })];
    expect(groupIntoBatches(p).map((b) => b.ops.length)).toEqual([1, 1, 1]);
  });

  test("groupIntoBatches() of an empty plan is empty", () => {
    expect(groupIntoBatches([])).toEqual([]);
  });
});

describe("applyPlan() success", () => {
  test("applyPlan() runs one process per batch and writes host sysctls without one", async () => {
    const { calls, runner } = recorder();
    const sysctls: string[] = [];
    await applyPlan(plan(), { runner, writeSysctl: (k, v) => sysctls.push(`${k}=${v}`) });
    expect(calls.map((c) => c.argv.join(" "))).toEqual(["ip -batch -", `nsenter --net=${ns} ip -batch -`, "nft -f -", "nft -f -"]);
    expect(calls[0].input).toBe(`link add veth1 type veth peer name eth0 netns ${ns}\nlink set dev veth1 up\n`);
    expect(calls[1].input).toBe("addr add 10.0.0.2/24 dev eth0\nlink set dev eth0 up\n");
    expect(sysctls).toEqual(["net.ipv4.ip_forward=1"]);
  });

  test("applyPlan() spawns exactly one `ip -batch -` for a host batch and one nsenter'd for a netns batch", async () => {
    const runner = queued();
    const writeSysctl = jest.fn();
    await applyPlan(
      [
        addVeth({ name: "veth1", peer: "eth0", peerNetns: ns }),
        setLink({ name: "veth1", master: "cni0", up: true }),
        addAddress({ netns: ns, dev: "eth0", address: "10.0.0.5/24" }),
        setLink({ netns: ns, name: "eth0", up: true }),
        addRoute({ netns: ns, dst: "default", gw: "10.0.0.1", dev: "eth0" }),
        addRoute({ netns: ns, dst: "default", gw: "fd00::1", dev: "eth0" }),
      ],
      { runner, writeSysctl },
    );
    expect(runner).toHaveBeenCalledTimes(2);
    expect(runner.mock.calls[0]).toEqual([["ip", "-batch", "-"], `link add veth1 type veth peer name eth0 netns ${ns}\nlink set dev veth1 master cni0 up\n`]);
    expect(runner.mock.calls[1]).toEqual([
      ["nsenter", `--net=${ns}`, "ip", "-batch", "-"],
      "addr add 10.0.0.5/24 dev eth0\nlink set dev eth0 up\nroute add default via 10.0.0.1 dev eth0\nroute add ::/0 via fd00::1 dev eth0\n",
    ]);
    expect(writeSysctl).not.toHaveBeenCalled();
  });

  test("applyPlan() writes host sysctls through writeSysctl without spawning a process", async () => {
    const runner = queued();
    const writeSysctl = jest.fn();
    await applyPlan([setSysctl({ key: "net.ipv4.ip_forward", value: 1 }), setSysctl({ key: "net/ipv4/conf/eth0.100/forwarding", value: "1" })], { runner, writeSysctl });
    expect(runner).not.toHaveBeenCalled();
    expect(writeSysctl.mock.calls).toEqual([
      ["net.ipv4.ip_forward", "1"],
      ["net/ipv4/conf/eth0.100/forwarding", "1"],
    ]);
  });

  test("applyPlan() runs netns sysctls as one `sysctl -q -w` process inside the netns", async () => {
    const runner = queued();
    const writeSysctl = jest.fn();
    await applyPlan(
      [setSysctl({ netns: ns, key: "net.ipv4.conf.eth0.arp_notify", value: 1 }), setSysctl({ netns: ns, key: "net.ipv6.conf.eth0.accept_dad", value: 0 })],
      { runner, writeSysctl },
    );
    expect(runner.mock.calls).toEqual([[["nsenter", `--net=${ns}`, "sysctl", "-q", "-w", "net.ipv4.conf.eth0.arp_notify=1", "net.ipv6.conf.eth0.accept_dad=0"], ""]]);
    expect(writeSysctl).not.toHaveBeenCalled();
  });

  test("applyPlan() feeds an nft script on stdin of `nft -f -`", async () => {
    const runner = queued();
    await applyPlan([nftScript({ netns: ns, script: "add table inet x\nadd chain inet x c\n" })], { runner });
    expect(runner.mock.calls).toEqual([[["nsenter", `--net=${ns}`, "nft", "-f", "-"], "add table inet x\nadd chain inet x c\n"]]);
  });

  test("applyPlan() of an empty plan runs nothing", async () => {
    const runner = queued();
    await applyPlan([], { runner });
    expect(runner).not.toHaveBeenCalled();
  });
});

/**
 * How iproute2 reads one `-batch` line (lib/utils.c getcmdline + makeargs): everything from `#` on
 * is a comment; words are split on blanks; a word starting with ' or " runs to the same quote.
 */
function ipBatchWords(line: string): string[] {
  const text = line.includes("#") ? line.slice(0, line.indexOf("#")) : line;
  const words: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && " \t\r\n".includes(text[i])) i++;
    if (i >= text.length) break;
    if (text[i] === "'" || text[i] === '"') {
      const end = text.indexOf(text[i], i + 1);
      words.push(text.slice(i + 1, end < 0 ? undefined : end));
      i = end < 0 ? text.length : end + 1;
    } else {
      let j = i;
      while (j < text.length && !" \t\r\n".includes(text[j])) j++;
      words.push(text.slice(i, j));
      i = j;
    }
  }
  return words;
}

describe("batch lines read back as the planned words", () => {
  test("applyPlan() writes each ip operation as one batch line that iproute2 splits back into its argv", async () => {
    const p: Plan = [
      addVeth({ name: "veth1", peer: "eth0", peerNetns: ns, mtu: 1400, mac: "02:00:00:00:00:01", master: "cni0" }),
      setLink({ name: "veth1", up: true }),
      addAddress({ dev: "cni0", address: "2001:db8::1/64" }),
      addRoute({ dst: "default", gw: "fe80::1", dev: "cni0", metric: 100 }),
      deleteLink({ name: "eth0.100" }),
    ];
    const runner = queued();
    await applyPlan(p, { runner });
    const lines = runner.mock.calls[0][1].split("\n").filter((l) => l !== "");
    expect(lines.map(ipBatchWords)).toEqual(p.map((op) => (op.tool === "ip" ? op.argv : [])));
  });

  // See ops.test.ts: a `#` in an interface name would turn the rest of the batch line into a
  // comment, so such a name never gets as far as a batch line.
  test("applyPlan() never sends a batch line that iproute2 reads as different words", async () => {
    expect(() => deleteLink({ name: "eth0#x" })).toThrow(expect.objectContaining({ code: 7 }));
    const op = deleteLink({ name: "eth0.x-y_z" });
    const runner = queued();
    await applyPlan([op], { runner });
    expect(ipBatchWords(runner.mock.calls[0][1].trimEnd())).toEqual(op.tool === "ip" ? op.argv : []);
  });
});

describe("applyPlan() failure and rollback", () => {
  test("applyPlan() on `Command failed -:2` undoes the first operation with `ip -force -batch -` and throws code 103 with applied 1", async () => {
    const runner = queued({ code: 1, stdout: "", stderr: "RTNETLINK answers: File exists\nCommand failed -:2\n" }, ok);
    const p = [addVeth({ name: "veth1", peer: "eth0", peerNetns: ns }), addAddress({ dev: "veth1", address: "10.0.0.1/24" }), setLink({ name: "veth1", up: true })];
    const e = await failure(applyPlan(p, { runner, writeSysctl: jest.fn() }));
    expect(e).toBeInstanceOf(CniError);
    expect(e.code).toBe(103);
    expect(e.applied).toBe(1);
    expect(e.message).toBe("kernel operation failed: ip addr add 10.0.0.1/24 dev veth1");
    expect(e.details).toBe("RTNETLINK answers: File exists\nCommand failed -:2");
    expect(runner).toHaveBeenCalledTimes(2);
    expect(runner.mock.calls[0]).toEqual([["ip", "-batch", "-"], `link add veth1 type veth peer name eth0 netns ${ns}\naddr add 10.0.0.1/24 dev veth1\nlink set dev veth1 up\n`]);
    expect(runner.mock.calls[1]).toEqual([["ip", "-force", "-batch", "-"], "link del veth1\n"]);
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

  test("applyPlan() with a failure on the first line undoes only earlier batches", async () => {
    const runner = queued(ok, { code: 2, stdout: "", stderr: "Error: Nexthop has invalid gateway.\nCommand failed -:1\n" });
    const p = [addVeth({ name: "veth1", peer: "eth0", peerNetns: ns }), addRoute({ netns: ns, dst: "default", gw: "10.0.0.1", dev: "eth0" })];
    const e = await failure(applyPlan(p, { runner }));
    expect(e.applied).toBe(1);
    expect(e.message).toBe(`kernel operation failed: nsenter --net=${ns} ip route add default via 10.0.0.1 dev eth0`);
    expect(runner.mock.calls[2]).toEqual([["ip", "-force", "-batch", "-"], "link del veth1\n"]);
    expect(runner).toHaveBeenCalledTimes(3);
  });

  test("applyPlan() undoes several operations newest first in one forced batch", async () => {
    const runner = queued({ code: 1, stdout: "", stderr: "Command failed -:3\n" });
    const p = [addVeth({ name: "v1", peer: "p1" }), addAddress({ dev: "v1", address: "10.0.0.1/24" }), addRoute({ dst: "10.9.0.0/16", dev: "v1" })];
    const e = await failure(applyPlan(p, { runner }));
    expect(e.applied).toBe(2);
    expect(runner.mock.calls[1]).toEqual([["ip", "-force", "-batch", "-"], "addr del 10.0.0.1/24 dev v1\nlink del v1\n"]);
  });

  test("applyPlan() without a line number treats the whole failed batch as not applied", async () => {
    const runner = queued({ code: 127, stdout: "", stderr: "ip: spawn ip ENOENT" });
    const e = await failure(applyPlan([addVeth({ name: "v1", peer: "p1" }), setLink({ name: "v1", up: true })], { runner }));
    expect(e.applied).toBe(0);
    expect(e.message).toBe("kernel operation failed: ip link add v1 type veth peer name p1");
    expect(e.details).toBe("ip: spawn ip ENOENT");
    expect(runner).toHaveBeenCalledTimes(1); // nothing to undo
  });

  test("applyPlan() reports the exit code when the command printed nothing", async () => {
    const runner = queued({ code: 2, stdout: "", stderr: "" });
    const e = await failure(applyPlan([setLink({ name: "v1", up: true })], { runner }));
    expect(e.details).toBe("exit code 2");
  });

  test("applyPlan() turns a runner that throws into a KernelError", async () => {
    const runner = queued(ok, new Error("spawn EAGAIN"), ok);
    const e = await failure(applyPlan([addVeth({ name: "v1", peer: "p1" }), nftScript({ script: "add table inet x" })], { runner }));
    expect(e.code).toBe(103);
    expect(e.details).toBe("spawn EAGAIN");
    expect(e.applied).toBe(1);
    expect(runner.mock.calls[2]).toEqual([["ip", "-force", "-batch", "-"], "link del v1\n"]);
  });

  test("applyPlan() ignores line numbers in nft errors and undoes earlier nft scripts with their undo", async () => {
    const runner = queued(ok, { code: 1, stdout: "", stderr: "/dev/stdin:2:1-5: Error: Could not process rule\nCommand failed -:2\n" }, ok);
    const p = [nftScript({ script: "add table inet a\n", undo: "delete table inet a\n" }), nftScript({ script: "add table inet b\nadd rule inet b x\n", undo: "delete table inet b\n" })];
    const e = await failure(applyPlan(p, { runner }));
    expect(e.applied).toBe(1);
    expect(runner.mock.calls[2]).toEqual([["nft", "-f", "-"], "delete table inet a\n"]);
  });

  test("applyPlan() fails on a host sysctl that cannot be written unless it is optional", async () => {
    const { runner } = recorder();
    const broken = () => {
      throw new Error("ENOENT");
    };
    await expect(applyPlan([setSysctl({ key: "net.ipv6.conf.x.accept_ra", value: 0, optional: true })], { runner, writeSysctl: broken })).resolves.toBeUndefined();
    await expect(applyPlan([setSysctl({ key: "net.ipv6.conf.x.accept_ra", value: 0 })], { runner, writeSysctl: broken })).rejects.toMatchObject({ code: 103 });
  });

  test("applyPlan() names the sysctl that could not be written and rolls back earlier ops", async () => {
    const runner = queued();
    const writeSysctl = jest.fn(() => {
      throw new Error("EACCES: permission denied");
    });
    const e = await failure(applyPlan([addVeth({ name: "v1", peer: "p1" }), setSysctl({ key: "net.ipv4.ip_forward", value: 1 })], { runner, writeSysctl }));
    expect(e.details).toBe("sysctl net.ipv4.ip_forward: EACCES: permission denied");
    expect(e.message).toBe("kernel operation failed: sysctl -w net.ipv4.ip_forward=1");
    expect(runner.mock.calls[1]).toEqual([["ip", "-force", "-batch", "-"], "link del v1\n"]);
  });

  // runBatch() writes host sysctls one by one and knows which one failed, but applyPlan() only
  // learns line numbers from `ip -batch`; for a sysctl batch it takes applied = 0 and names
  // b.ops[0]. With [A ok, B failing] the message names A (which was written) instead of B.
  test("applyPlan() names the host sysctl that failed, not the first of its batch", async () => {
    const writeSysctl = jest.fn((key: string) => {
      if (key === "net.ipv4.conf.all.forwarding") throw new Error("EROFS: read-only file system");
    });
    const e = await failure(
      applyPlan([setSysctl({ key: "net.ipv4.ip_forward", value: 1 }), setSysctl({ key: "net.ipv4.conf.all.forwarding", value: 1 })], { runner: queued(), writeSysctl }),
    );
    expect(e.details).toBe("sysctl net.ipv4.conf.all.forwarding: EROFS: read-only file system");
    expect(e.message).toBe("kernel operation failed: sysctl -w net.ipv4.conf.all.forwarding=1");
  });

  test("applyPlan() still throws the original error when the rollback fails too", async () => {
    const runner = queued({ code: 1, stdout: "", stderr: "Command failed -:2\n" }, new Error("rollback exploded"));
    const e = await failure(applyPlan([addVeth({ name: "v1", peer: "p1" }), setLink({ name: "v1", up: true })], { runner }));
    expect(e.details).toBe("Command failed -:2");
    expect(runner).toHaveBeenCalledTimes(2);
  });

  test("applyPlan() stops at the failed batch and runs no later batch", async () => {
    const runner = queued({ code: 1, stdout: "", stderr: "Command failed -:1\n" });
    await failure(applyPlan([setLink({ name: "v1", up: true }), nftScript({ script: "x" }), setLink({ netns: ns, name: "eth0", up: true })], { runner }));
    expect(runner).toHaveBeenCalledTimes(1);
  });
});

describe("applyPlan() nft scripts with setup", () => {
  const op = () => nftScript({ netns: ns, script: "add element ip t s { 10.0.0.2 }\n", setup: "add table ip t\nadd set ip t s { type ipv4_addr; }\n" });

  test("applyPlan() sends only the script when it succeeds alone", async () => {
    const runner = queued(ok);
    await applyPlan([op()], { runner });
    expect(runner.mock.calls).toEqual([[["nsenter", `--net=${ns}`, "nft", "-f", "-"], "add element ip t s { 10.0.0.2 }\n"]]);
  });

  test("applyPlan() runs the script again with its setup in front when it fails alone", async () => {
    const runner = queued({ code: 1, stdout: "", stderr: "Error: No such file or directory; did you mean table 't'?" }, ok);
    const stderr: string[] = [];
    const trace = createTracer({ PATCHCORD_TRACE: "stderr" }, "bridge", (t) => stderr.push(t));
    await applyPlan([op()], { runner, trace });
    expect(runner).toHaveBeenCalledTimes(2);
    expect(runner.mock.calls[1]).toEqual([["nsenter", `--net=${ns}`, "nft", "-f", "-"], "add table ip t\nadd set ip t s { type ipv4_addr; }\nadd element ip t s { 10.0.0.2 }\n"]);
    expect(stderr.join("")).toContain("the nft table was missing");
  });

  test("applyPlan() fails with code 103 when the script fails with its setup too", async () => {
    const runner = queued({ code: 1, stdout: "", stderr: "first" }, { code: 1, stdout: "", stderr: "Error: Could not process rule: Permission denied" });
    const e = await failure(applyPlan([op()], { runner }));
    expect(e.code).toBe(103);
    expect(e.applied).toBe(0);
    expect(e.details).toBe("Error: Could not process rule: Permission denied");
  });
});

describe("undoPlan() and undoOps()", () => {
  test("undoPlan() reverses the order and keeps namespaces", () => {
    const done = [addVeth({ name: "v1", peer: "p1" }), addRoute({ netns: ns, dst: "10.1.0.0/16", gw: "10.0.0.1" })];
    expect(undoPlan(done)).toEqual([
      { tool: "ip", netns: ns, argv: ["route", "del", "10.1.0.0/16", "via", "10.0.0.1"] },
      { tool: "ip", netns: undefined, argv: ["link", "del", "v1"] },
    ]);
  });

  test("undoPlan() skips operations without an undo and includes nft and bridge undos", () => {
    const done: Op[] = [
      addVeth({ name: "v1", peer: "p1" }),
      setLink({ name: "v1", up: true }),
      setSysctl({ key: "net.ipv4.ip_forward", value: 1 }),
      { tool: "bridge", argv: ["vlan", "add", "dev", "v1", "vid", "10"], undo: ["vlan", "del", "dev", "v1", "vid", "10"] },
      addAddress({ netns: ns, dev: "eth0", address: "10.0.0.2/24" }),
      nftScript({ script: "add element ip t s { 10.0.0.2 }", undo: "delete element ip t s { 10.0.0.2 }" }),
      deleteLink({ name: "old" }),
    ];
    expect(undoPlan(done)).toEqual([
      { tool: "nft", netns: undefined, script: "delete element ip t s { 10.0.0.2 }" },
      { tool: "ip", netns: ns, argv: ["addr", "del", "10.0.0.2/24", "dev", "eth0"] },
      { tool: "bridge", netns: undefined, argv: ["vlan", "del", "dev", "v1", "vid", "10"] },
      { tool: "ip", netns: undefined, argv: ["link", "del", "v1"] },
    ]);
  });

  test("undoPlan() does not modify the list it is given", () => {
    const done = [addVeth({ name: "v1", peer: "p1" }), addVeth({ name: "v2", peer: "p2" })];
    undoPlan(done);
    expect(done.map((o) => (o.tool === "ip" ? o.argv[2] : ""))).toEqual(["v1", "v2"]);
  });

  test("undoOps() runs nothing when there is nothing to undo", async () => {
    const runner = queued();
    await undoOps([setLink({ name: "v1", up: true })], { runner });
    expect(runner).not.toHaveBeenCalled();
  });

  test("undoOps() runs every undo batch even when one fails", async () => {
    const runner = queued(new Error("first failed"), ok);
    await undoOps([addVeth({ name: "v1", peer: "p1" }), addAddress({ netns: ns, dev: "eth0", address: "10.0.0.2/24" })], { runner });
    expect(runner.mock.calls.map((c) => c[0].join(" "))).toEqual([`nsenter --net=${ns} ip -force -batch -`, "ip -force -batch -"]);
  });
});

describe("applyBestEffort()", () => {
  test("applyBestEffort() keeps going past failures and runs ip with -force", async () => {
    const { calls, runner } = recorder(() => "Cannot find device");
    const results = await applyBestEffort([setLink({ name: "a", up: true }), nftScript({ script: "x\n" })], { runner });
    expect(results.map((r) => r.code)).toEqual([1, 1]);
    expect(calls[0].argv).toEqual(["ip", "-force", "-batch", "-"]);
  });

  test("applyBestEffort() records a thrown runner as code -1 and continues", async () => {
    const runner = queued(new Error("spawn failed"), ok);
    const results = await applyBestEffort([deleteLink({ name: "v1" }), deleteLink({ netns: ns, name: "eth0" })], { runner });
    expect(results).toEqual([{ code: -1, stdout: "", stderr: "spawn failed" }, ok]);
    expect(runner.mock.calls[1][0]).toEqual(["nsenter", `--net=${ns}`, "ip", "-force", "-batch", "-"]);
  });
});

test("sysctlPath() maps dotted and slash keys under /proc/sys", () => {
  expect(sysctlPath("net.ipv4.ip_forward")).toBe("/proc/sys/net/ipv4/ip_forward");
  expect(sysctlPath("net/ipv4/conf/eth0.100/rp_filter")).toBe("/proc/sys/net/ipv4/conf/eth0.100/rp_filter");
});

describe("trace", () => {
  const traceEnv = { CNI_COMMAND: "ADD", CNI_CONTAINERID: "c1", CNI_IFNAME: "eth0", CNI_NETNS: ns };
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "pc-trace-unit-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test("the trace gets each batch as shell commands, to stderr or a file", async () => {
    const lines: string[] = [];
    const { runner } = recorder();
    const trace = createTracer({ PATCHCORD_TRACE: "stderr", CNI_COMMAND: "ADD", CNI_CONTAINERID: "c1" }, "bridge", (t) => lines.push(t));
    await applyPlan([setLink({ name: "cni0", up: true })], { runner, trace });
    expect(untimed(lines.join(""))).toBe("# bridge ADD container=c1 ifname= netns=\nip link set dev cni0 up\n");

    const file = join(dir, "trace.log");
    const toFile = createTracer({ PATCHCORD_TRACE: file }, "x", () => undefined);
    await applyPlan([setLink({ name: "a", up: true })], { runner, trace: toFile });
    expect(readFileSync(file, "utf8")).toContain("ip link set dev a up\n");

    const off = createTracer({}, "x", (t) => lines.push(t));
    expect(off.enabled).toBe(false);
  });

  test("createTracer() with PATCHCORD_TRACE=stderr writes the header once and every batch as rendered", async () => {
    const stderr: string[] = [];
    const trace = createTracer({ ...traceEnv, PATCHCORD_TRACE: "stderr" }, "bridge", (t) => stderr.push(t));
    expect(trace.enabled).toBe(true);
    const p = plan();
    await applyPlan(p, { runner: queued(), writeSysctl: jest.fn(), trace });
    expect(untimed(stderr.join(""))).toBe(`# bridge ADD container=c1 ifname=eth0 netns=${ns}\n` + p.map(renderShell).join("\n") + "\n");
    expect(stderr.join("").match(/^# bridge/gm)).toHaveLength(1);
  });

  test("createTracer() with PATCHCORD_TRACE=1 also writes to stderr", () => {
    const stderr: string[] = [];
    createTracer({ PATCHCORD_TRACE: "1", CNI_COMMAND: "DEL" }, "host-local", (t) => stderr.push(t)).write(["ip link del dev veth1"]);
    expect(untimed(stderr.join(""))).toBe("# host-local DEL container= ifname= netns=\nip link del dev veth1\n");
  });

  test("createTracer() stamps each write with the time since start and close() marks the end", () => {
    const stderr: string[] = [];
    const t = createTracer({ PATCHCORD_TRACE: "stderr", CNI_COMMAND: "ADD" }, "x", (s) => stderr.push(s));
    t.write(["one"]);
    t.write(["two", "three"]);
    t.close();
    const lines = stderr.join("").split("\n");
    expect(lines[0]).toBe("# x ADD container= ifname= netns=");
    expect(lines[1]).toMatch(/^# \+\d+\.\d ms$/);
    expect(lines[2]).toBe("one");
    expect(lines[3]).toMatch(/^# \+\d+\.\d ms$/);
    expect(lines.slice(4, 6)).toEqual(["two", "three"]);
    expect(lines[6]).toMatch(/^# \+\d+\.\d ms done$/);
    expect(lines[7]).toBe("");
  });

  test("createTracer() close() writes nothing when nothing was traced", () => {
    const stderr = jest.fn();
    createTracer({ PATCHCORD_TRACE: "stderr" }, "x", stderr).close();
    expect(stderr).not.toHaveBeenCalled();
  });

  test("createTracer() is disabled for an unset, empty or 0 PATCHCORD_TRACE", () => {
    for (const value of [undefined, "", "0"]) {
      const stderr = jest.fn();
      const t = createTracer({ PATCHCORD_TRACE: value }, "x", stderr);
      expect(t.enabled).toBe(false);
      t.write(["ip link"]);
      t.close();
      expect(stderr).not.toHaveBeenCalled();
    }
  });

  test("createTracer() writes nothing, not even the header, for an empty list of lines", () => {
    const stderr = jest.fn();
    createTracer({ PATCHCORD_TRACE: "stderr" }, "x", stderr).write([]);
    expect(stderr).not.toHaveBeenCalled();
  });

  test("the trace shows the rollback after the failed batch", async () => {
    const stderr: string[] = [];
    const trace = createTracer({ ...traceEnv, PATCHCORD_TRACE: "stderr" }, "bridge", (t) => stderr.push(t));
    const runner = queued({ code: 1, stdout: "", stderr: "Command failed -:2\n" });
    await failure(applyPlan([addVeth({ name: "veth1", peer: "eth0", peerNetns: ns }), addAddress({ dev: "veth1", address: "10.0.0.1/24" })], { runner, trace }));
    expect(untimed(stderr.join(""))).toBe(
      [
        `# bridge ADD container=c1 ifname=eth0 netns=${ns}`,
        `ip link add veth1 type veth peer name eth0 netns ${ns}`,
        "ip addr add 10.0.0.1/24 dev veth1",
        "# undoing the operations above",
        "ip link del veth1",
        "",
      ].join("\n"),
    );
  });

  test("createTracer() with an absolute path appends to that file (mode 0600) and not to stderr", async () => {
    const file = join(dir, "trace.log");
    const stderr = jest.fn();
    const trace = createTracer({ ...traceEnv, PATCHCORD_TRACE: file }, "bridge", stderr);
    await applyPlan([setLink({ name: "cni0", up: true }), nftScript({ script: "add table inet x\n" })], { runner: queued(), trace });
    expect(stderr).not.toHaveBeenCalled();
    expect(untimed(readFileSync(file, "utf8"))).toBe(`# bridge ADD container=c1 ifname=eth0 netns=${ns}\nip link set dev cni0 up\nnft -f - <<'EOF'\nadd table inet x\nEOF\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  test("createTracer() appends to an existing trace file, one header per invocation", () => {
    const file = join(dir, "trace.log");
    writeFileSync(file, "earlier\n");
    createTracer({ PATCHCORD_TRACE: file, CNI_COMMAND: "ADD" }, "a", jest.fn()).write(["one"]);
    createTracer({ PATCHCORD_TRACE: file, CNI_COMMAND: "DEL" }, "a", jest.fn()).write(["two"]);
    expect(untimed(readFileSync(file, "utf8"))).toBe("earlier\n# a ADD container= ifname= netns=\none\n# a DEL container= ifname= netns=\ntwo\n");
  });

  test("createTracer() reports an unwritable trace file on stderr instead of failing", () => {
    const stderr: string[] = [];
    const file = join(dir, "missing-dir", "trace.log");
    const trace = createTracer({ PATCHCORD_TRACE: file }, "bridge", (t) => stderr.push(t));
    expect(() => trace.write(["ip link"])).not.toThrow();
    expect(stderr.join("")).toMatch(new RegExp(`^bridge: cannot write trace to ${file.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: ENOENT`));
  });
});
