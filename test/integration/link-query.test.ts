import { existsSync } from "node:fs";
import { join } from "node:path";
import { LinkInfo, RouteInfo } from "../../shared/kernel/query";
import { routeDst } from "../../shared/plugin/check-pod";
import { runCommand } from "../../shared/kernel/run";
import { isRoot, ROOT, runId, testIf } from "./helpers";
import { NetLab } from "./netlab";

// findLink() and listRoutes() over rtnetlink (what the compiled binaries use) against `ip -j`, in a
// namespace with enough addresses that the kernel answers the address dump in several datagrams.
const bun = join(ROOT, "node_modules/@oven/bun-linux-x64/bin/bun");
const it = testIf(isRoot && existsSync(bun) && process.arch === "x64", "needs root and Bun from npm ci (x86-64)");
const lab = new NetLab(runId());

afterAll(() => lab.destroy());

it("links, kinds, masters, every address and the main routing table read in-process match what ip reports", async () => {
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
  await ip("route", "add", "default", "via", "10.77.1.254", "dev", "qv1");
  await ip("route", "add", "192.0.2.7/32", "dev", "qv1", "scope", "link");
  await ip("route", "add", "198.51.100.0/24", "via", "10.78.0.9", "metric", "50");
  await ip("route", "add", "203.0.113.0/24", "via", "10.77.2.9", "dev", "qv1", "onlink");
  await ip("route", "add", "198.18.0.0/15", "via", "10.77.3.9", "table", "100");
  await ip("-6", "route", "add", "default", "via", "fd77:1::fe", "dev", "qv1");
  await ip("-6", "route", "add", "2001:db8::/48", "dev", "qv1", "metric", "7");
  const names = ["lo", "qbr0", "qv0", "qv1", "qmv0", "missing0"];
  const r = await runCommand([bun, join(__dirname, "fixtures/link-query.ts"), `/run/netns/${ns}`, ...names]);
  expect([r.code, r.stderr]).toEqual([0, ""]);
  const { links: ours, routes: ourRoutes, routesOfQv1 } = JSON.parse(r.stdout) as { links: (LinkInfo | null)[]; routes: RouteInfo[]; routesOfQv1: RouteInfo[] };
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

  const canon = (rs: RouteInfo[]) => rs.map((x) => [routeDst(x), x.gateway ?? "", x.dev ?? "", x.scope ?? "", x.metric ?? "", (x.flags ?? []).join(",")].join(" ")).sort();
  const theirs = [...(JSON.parse((await ip("-j", "-4", "route", "show")).stdout) as RouteInfo[]), ...(JSON.parse((await ip("-j", "-6", "route", "show")).stdout) as RouteInfo[])];
  expect(canon(ourRoutes)).toEqual(canon(theirs));
  expect(canon(ourRoutes)).toEqual(expect.arrayContaining(["default 10.77.1.254 qv1   ", "203.0.113.0/24 10.77.2.9 qv1   onlink", "198.51.100.0/24 10.78.0.9 qbr0  50 "]));
  expect(canon(ourRoutes).some((x) => x.startsWith("198.18.0.0/15"))).toBe(false); // table 100 is not main
  expect(routesOfQv1.every((x) => x.dev === "qv1") && routesOfQv1.length >= 5).toBe(true);
});
