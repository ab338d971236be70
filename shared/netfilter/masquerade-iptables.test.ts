import { chainName, iptablesMasqueradeOps, iptablesRemovals } from "./masquerade-iptables";

const a = { network: "net1", containerId: "ctr1", ifname: "eth0" };
const chain = chainName("net1/ctr1/eth0");
const c = '-m comment --comment "patchcord: net1/ctr1/eth0"';

test("iptablesMasqueradeOps() is one restore per family, with its exact undo", () => {
  const ops = iptablesMasqueradeOps(["10.1.0.2/24", "fd00::2/64"], a);
  expect(chain).toMatch(/^PC-MASQ-[0-9a-f]{16}$/);
  expect(chain.length).toBeLessThanOrEqual(28); // iptables' limit for chain names
  expect(ops).toEqual([
    {
      tool: "iptables",
      family: 4,
      netns: undefined,
      input: ["*nat", `:${chain} - [0:0]`, `-A ${chain} -d 10.1.0.0/24 ${c} -j ACCEPT`, `-A ${chain} ! -d 224.0.0.0/4 ${c} -j MASQUERADE`, `-A POSTROUTING -s 10.1.0.2/32 ${c} -j ${chain}`, "COMMIT", ""].join("\n"),
      undo: ["*nat", `-D POSTROUTING -s 10.1.0.2/32 ${c} -j ${chain}`, `-F ${chain}`, `-X ${chain}`, "COMMIT", ""].join("\n"),
    },
    expect.objectContaining({ family: 6, input: expect.stringContaining(`-A POSTROUTING -s fd00::2/128 ${c} -j ${chain}`) }),
  ]);
  expect(() => iptablesMasqueradeOps(["10.1.0.2"], a)).toThrow(expect.objectContaining({ code: 7 }));
});

test("iptablesRemovals() finds the chains of the selected tags in an iptables-save dump", () => {
  const other = chainName("net1/ctr2/eth0");
  const dump = [
    "*nat",
    ":POSTROUTING ACCEPT [0:0]",
    `:${chain} - [0:0]`,
    `:${other} - [0:0]`,
    `-A POSTROUTING -s 10.1.0.2/32 ${c} -j ${chain}`,
    `-A POSTROUTING -s 10.1.0.3/32 -m comment --comment "patchcord: net1/ctr2/eth0" -j ${other}`,
    `-A ${chain} -d 10.1.0.0/24 ${c} -j ACCEPT`,
    `-A ${other} -d 10.1.0.0/24 -m comment --comment "patchcord: net1/ctr2/eth0" -j ACCEPT`,
    "-A POSTROUTING -s 10.9.0.0/16 -j MASQUERADE",
    "COMMIT",
  ].join("\n");
  expect(iptablesRemovals(dump, (t) => t === "net1/ctr1/eth0")).toEqual([`-D POSTROUTING -s 10.1.0.2/32 ${c} -j ${chain}`, `-F ${chain}`, `-X ${chain}`]);
  expect(iptablesRemovals(dump, () => false)).toEqual([]);
  expect(iptablesRemovals(dump, (t) => t.startsWith("net1/"))).toHaveLength(6);
});
