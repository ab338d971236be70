import { attachmentTag, listMasqueraded, masqueradeOps, unmasqueradeOps } from "./masquerade";
import { listSpoofchecked, spoofcheckOps, unspoofcheckOps } from "./spoofcheck";

const a = { network: "net1", containerId: "ctr1", ifname: "eth0" };

test("masqueradeOps() creates the pod's tagged elements; the fixed rules and the removal of elements left by others are its setup", () => {
  const op = masqueradeOps(["10.1.0.2/24", "fd00::2/64"], a);
  if (op.tool !== "nft") throw new Error("expected nft");
  const lines = op.script.trim().split("\n");
  expect(op.setup).toContain("flush chain inet patchcord postrouting\n");
  expect(lines.some((l) => l.startsWith("add table") || l.startsWith("add rule"))).toBe(false);
  expect(op.setup).toContain("add rule inet patchcord postrouting ip saddr @masq_pods4 ip saddr . ip daddr != @masq_local4 ip daddr != 224.0.0.0/4 masquerade");
  expect(lines).toEqual([
    'create element inet patchcord masq_pods4 { 10.1.0.2 comment "net1/ctr1/eth0" }',
    'create element inet patchcord masq_local4 { 10.1.0.2 . 10.1.0.0/24 comment "net1/ctr1/eth0" }',
    'create element inet patchcord masq_pods6 { fd00::2 comment "net1/ctr1/eth0" }',
    'create element inet patchcord masq_local6 { fd00::2 . fd00::/64 comment "net1/ctr1/eth0" }',
  ]);
  expect(op.undo).toContain("delete element inet patchcord masq_pods4 { 10.1.0.2 }");
  // Run only after the fast transaction failed: an element of the same address is removed first.
  expect(op.setup).toContain("add element inet patchcord masq_local6 { fd00::2 . fd00::/64 }\ndelete element inet patchcord masq_local6 { fd00::2 . fd00::/64 }\n");
});

test("unmasqueradeOps() adds then deletes each element, so a missing one is no error", () => {
  const op = unmasqueradeOps(["10.1.0.2/24"]);
  if (op.tool !== "nft") throw new Error("expected nft");
  const tail = op.script.trim().split("\n").slice(-4);
  expect(tail).toEqual([
    "add element inet patchcord masq_pods4 { 10.1.0.2 }",
    "delete element inet patchcord masq_pods4 { 10.1.0.2 }",
    "add element inet patchcord masq_local4 { 10.1.0.2 . 10.1.0.0/24 }",
    "delete element inet patchcord masq_local4 { 10.1.0.2 . 10.1.0.0/24 }",
  ]);
  expect(() => unmasqueradeOps(["10.1.0.2"])).toThrow(expect.objectContaining({ code: 7 }));
});

test("attachmentTag() is readable, and hashed when it would be too long for a comment", () => {
  expect(attachmentTag(a)).toBe("net1/ctr1/eth0");
  const long = attachmentTag({ ...a, containerId: "c".repeat(200) });
  expect(long.length).toBeLessThanOrEqual(128);
  expect(long).toMatch(/^net1\/#[0-9a-f]{16}$/);
});

test("listMasqueraded() groups addresses by tag from nft's JSON; no table is no addresses", async () => {
  const json = {
    nftables: [
      { set: { name: "masq_pods4", elem: [{ elem: { val: "10.1.0.2", comment: "net1/ctr1/eth0" } }] } },
      { set: { name: "masq_local4", elem: [{ elem: { val: { concat: ["10.1.0.2", { prefix: { addr: "10.1.0.0", len: 24 } }] }, comment: "net1/ctr1/eth0" } }] } },
      { set: { name: "masq_local6", elem: [{ elem: { val: { concat: ["fd00::2", { prefix: { addr: "fd00::", len: 64 } }] }, comment: "net1/ctr1/eth0" } }] } },
    ],
  };
  const found = await listMasqueraded(async () => ({ code: 0, stdout: JSON.stringify(json), stderr: "" }));
  expect([...found]).toEqual([["net1/ctr1/eth0", ["10.1.0.2/24", "fd00::2/64"]]]);
  const none = await listMasqueraded(async () => ({ code: 1, stdout: "", stderr: "Error: No such file or directory" }));
  expect(none.size).toBe(0);
  await expect(listMasqueraded(async () => ({ code: 1, stdout: "", stderr: "Operation not permitted" }))).rejects.toMatchObject({ code: 103 });
});

test("spoofcheckOps() allows only the pod's MAC on its port; unspoofcheckOps() is idempotent", async () => {
  const op = spoofcheckOps("veth1", "02:AA:00:00:00:01", "net1/ctr1/eth0");
  if (op.tool !== "nft") throw new Error("expected nft");
  expect(op.script).toContain('add element bridge patchcord spoofchk_allowed { "veth1" . 02:aa:00:00:00:01 comment "net1/ctr1/eth0" }');
  expect(op.setup).toContain("iifname @spoofchk_ports iifname . ether saddr != @spoofchk_allowed drop");
  const del = unspoofcheckOps("veth1", "02:aa:00:00:00:01");
  if (del.tool !== "nft") throw new Error("expected nft");
  expect(del.script).toContain('add element bridge patchcord spoofchk_ports { "veth1" }\ndelete element bridge patchcord spoofchk_ports { "veth1" }');
  expect(() => spoofcheckOps("veth 1", "02:aa:00:00:00:01", "t")).toThrow(expect.objectContaining({ code: 7 }));
  const listed = await listSpoofchecked(async () => ({
    code: 0,
    stdout: JSON.stringify({ nftables: [{ set: { elem: [{ elem: { val: { concat: ["veth1", "02:aa:00:00:00:01"] } } }] } }] }),
    stderr: "",
  }));
  expect([...listed]).toEqual([["veth1", ["02:aa:00:00:00:01"]]]);
});
