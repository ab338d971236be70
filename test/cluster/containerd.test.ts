import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { isRoot, testIf } from "../integration/helpers";
import { BUN, busyboxRootfs, Cluster, CNITOOL, Containerd, PATCHCORD, Pod, podCIDR, podCIDR6, sleep, waitFor } from "./cluster";
import { printFigures, recordFigure } from "./figures";

/**
 * A real containerd (Debian's 1.6 with runc) on node 1 of a two-node cluster: `ctr run --cni`
 * with the conflist the agent wrote starts a container that gets its address from the node's
 * podCIDRs and reaches a pod on node 2, and back. The container's root is Debian's static busybox
 * (`ctr run --rootfs`: no registry, no image).
 */
const prerequisites: [boolean, string][] = [
  [isRoot, "root"],
  [existsSync(PATCHCORD), "the built binary (node scripts/build.mjs)"],
  [existsSync(CNITOOL), "dist/cnitool (conformance/cnitool/build.sh)"],
  [existsSync(BUN), "Bun (node_modules/@oven/bun-linux-x64)"],
  [existsSync("/usr/bin/containerd") && existsSync("/usr/bin/ctr"), "containerd and ctr (apt-get install containerd)"],
  [existsSync("/usr/sbin/runc") || existsSync("/usr/bin/runc"), "runc"],
  [existsSync("/usr/bin/busybox") || existsSync("/bin/busybox"), "a static busybox (apt-get install busybox-static)"],
];
const missing = prerequisites.filter(([ok]) => !ok).map(([, what]) => what);
const it = testIf(missing.length === 0, `the containerd test needs ${missing.join(", ")}`);

let cluster: Cluster;
let containerd: Containerd;
const withLogs = async (fn: () => Promise<void>) => {
  try {
    await fn();
  } catch (e) {
    if (e instanceof Error && cluster) e.message += `\n\n${cluster.logs()}\n--- containerd log (tail):\n${containerd?.log().split("\n").slice(-30).join("\n")}`;
    throw e;
  }
};

describe("containerd with the conflist the agent wrote", () => {
  let pod: Pod;
  let rootfs: string;

  beforeAll(async () => {
    if (missing.length) return;
    cluster = new Cluster({ nodes: 2, dualStack: true, resync: 2 });
    await cluster.createNetwork();
    await cluster.startApi();
    for (const n of cluster.nodes) cluster.startAgent(n);
    for (const n of cluster.nodes) {
      if ((await cluster.waitReady(n)) === undefined) throw new Error(`${n.name}: not Ready\n${cluster.logs()}`);
      if (!(await waitFor(async () => n.conflist(), 10_000))) throw new Error(`${n.name}: no conflist\n${cluster.logs()}`);
    }
    pod = await cluster.addPod(cluster.node(2));
    rootfs = busyboxRootfs(join(cluster.dir, "rootfs"));
    containerd = new Containerd(cluster, cluster.node(1));
    await containerd.start();
  }, 120_000);

  afterAll(async () => {
    printFigures("cluster-figures-containerd.json");
    await containerd?.destroy();
    if (cluster) {
      await cluster.destroy();
      expect(await cluster.leftovers()).toEqual([]);
    }
  }, 60_000);

  const leases = () => {
    try {
      return readdirSync(join(cluster.node(1).ipamDir, "patchcord")).filter((f) => /^[0-9a-f.:]+$/.test(f));
    } catch {
      return [];
    }
  };

  it("ctr run --cni: the container gets an address from node 1's podCIDRs and pings a pod on node 2 (IPv4, IPv6); --rm gives the address back", () =>
    withLogs(async () => {
      const t0 = Date.now();
      const r = await containerd.ctrWithCni(
        "run", "--rm", "--cni", "--fifo-dir", containerd.fifoDir, "--env", "PATH=/bin", "--rootfs", rootfs, "out1",
        "/bin/sh", "-c", `ip -o addr show dev eth0 scope global; ping -c 1 -w 5 ${pod.ip4} && ping6 -c 1 -w 5 ${pod.ip6} && echo reached`,
      );
      recordFigure("containerdRun", Date.now() - t0);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      const v4 = /inet (10\.244\.1\.\d+)\/32/.exec(r.stdout)?.[1];
      const v6 = /inet6 (fd00:10:244:1::[0-9a-f]+)\/128/.exec(r.stdout)?.[1];
      expect([v4, v6, r.stdout]).toEqual([expect.any(String), expect.any(String), expect.stringContaining("reached")]);
      expect(podCIDR(1)).toBe("10.244.1.0/24");
      expect(podCIDR6(1)).toBe("fd00:10:244:1::/64");
      // --rm ran the CNI DEL: no lease left, no host veth of the container left on node 1.
      expect(leases()).toEqual([]);
      expect((await cluster.node(1).routes()).filter((x) => x.dst === v4)).toEqual([]);
      expect((await containerd.ctr("container", "ls", "-q")).stdout.trim()).toBe("");
    }), 60_000);

  it("a pod on node 2 reaches a running container on node 1", () =>
    withLogs(async () => {
      const run = containerd.ctrWithCni("run", "--rm", "--cni", "--fifo-dir", containerd.fifoDir, "--env", "PATH=/bin", "--rootfs", rootfs, "in1", "/bin/sh", "-c", "sleep 6");
      // The container's address: the host route veth-routed adds for it on node 1.
      const address = await waitFor(async () => (await cluster.node(1).routes()).find((x) => /^10\.244\.1\.\d+$/.test(x.dst) && x.dev?.startsWith("veth"))?.dst, 10_000);
      expect(address).toMatch(/^10\.244\.1\./);
      expect(leases()).toHaveLength(2);
      expect(await cluster.ping(pod.ns, address!, 1)).toBe(true);
      expect((await containerd.ctr("task", "ls")).stdout).toMatch(/in1\s+\d+\s+RUNNING/);
      const r = await run;
      expect(r.code).toBe(0);
      await sleep(100);
      expect(leases()).toEqual([]);
    }), 60_000);
});
