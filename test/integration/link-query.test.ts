import { existsSync } from "node:fs";
import { join } from "node:path";
import { LinkInfo } from "../../shared/kernel/query";
import { runCommand } from "../../shared/kernel/run";
import { isRoot, ROOT, runId, testIf } from "./helpers";
import { NetLab } from "./netlab";

// findLink() over rtnetlink (what the compiled binaries use) against `ip -j -d addr show`, in a
// namespace with enough addresses that the kernel answers the address dump in several datagrams.
const bun = join(ROOT, "node_modules/@oven/bun-linux-x64/bin/bun");
const it = testIf(isRoot && existsSync(bun) && process.arch === "x64", "needs root and Bun from npm ci (x86-64)");
const lab = new NetLab(runId());

afterAll(() => lab.destroy());

it("links, kinds, masters and every address read in-process match what ip reports", async () => {
  const ns = (await lab.addPod("q")).split("/").pop()!;
  const ip = (...args: string[]) => NetLab.sh("ip", "-n", ns, ...args);
  await ip("link", "add", "qbr0", "type", "bridge");
  await ip("link", "add", "qv0", "mtu", "1400", "master", "qbr0", "type", "veth", "peer", "name", "qv1");
  await ip("link", "add", "link", "qv1", "name", "qmv0", "type", "macvlan", "mode", "private");
  for (const l of ["qbr0", "qv0", "qv1", "qmv0"]) await ip("link", "set", l, "up");
  for (let i = 1; i <= 60; i++) {
    await ip("addr", "add", `10.77.${i}.1/24`, "dev", "qv1");
    await ip("addr", "add", `fd77:${i}::1/64`, "dev", "qv1", "nodad");
  }
  await ip("addr", "add", "10.78.0.1/16", "dev", "qbr0");
  const names = ["lo", "qbr0", "qv0", "qv1", "qmv0", "missing0"];
  const r = await runCommand([bun, join(__dirname, "fixtures/link-query.ts"), `/run/netns/${ns}`, ...names]);
  expect([r.code, r.stderr]).toEqual([0, ""]);
  const ours = JSON.parse(r.stdout) as (LinkInfo | null)[];
  expect(ours[5]).toBeNull();
  for (const [i, name] of names.slice(0, 5).entries()) {
    const [theirs] = JSON.parse((await ip("-j", "-d", "addr", "show", "dev", name)).stdout) as LinkInfo[];
    const mine = ours[i]!;
    const pick = (l: LinkInfo) => ({
      ifname: l.ifname,
      mtu: l.mtu,
      master: l.master,
      address: l.address,
      kind: l.linkinfo?.info_kind,
      mode: l.linkinfo?.info_data?.mode,
      up: l.flags.includes("UP"),
      addresses: (l.addr_info ?? []).map((a) => `${a.family} ${a.local}/${a.prefixlen} ${a.scope}`).sort(),
    });
    expect(pick(mine)).toEqual(pick(theirs));
  }
  expect(ours[3]!.addr_info!.filter((a) => a.scope === "global").length).toBe(120);
});
