import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, execPlugin, haveBinaries, isRoot, PluginRun, runId, testIf } from "./helpers";
import { NetLab } from "./netlab";
import { PATCHCORD, ServerProcess, sleep } from "./server-process";

// Faults of the resident server as a runtime meets them, through the real shim (dist/bin/bridge):
// the server killed in the middle of a burst of ADDs, and restarted while calls keep coming. The
// runtime's answer to a failed or interrupted ADD is a DEL; after it nothing may be left behind.
const SHIM = join(BIN, "patchcord-shim");
const it = testIf(isRoot && haveBinaries && existsSync(SHIM) && existsSync(PATCHCORD), "needs root and the built binaries with the shim (npm run build)");
const rid = runId();
const lab = new NetLab(rid);
let dir: string;
let dataDir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "pc-server-faults-"));
  dataDir = join(dir, "ipam");
  if (isRoot) await lab.create();
});
afterAll(async () => {
  await lab.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const bridgeOf = (network: string) => `${network}br`;
const conf = (name: string, subnet: string) => ({
  cniVersion: "1.0.0",
  name,
  type: "bridge",
  bridge: bridgeOf(name),
  isGateway: true,
  ipam: { type: "host-local", dataDir, ranges: [[{ subnet }]] },
});
const env = (command: string, pod: string, socket: string) => ({ CNI_COMMAND: command, CNI_CONTAINERID: pod, CNI_NETNS: `/run/netns/${rid}${pod}`, CNI_IFNAME: "eth0", CNI_PATH: BIN, PATCHCORD_SOCKET: socket });
const call = (command: string, pod: string, socket: string, config: unknown): Promise<PluginRun> =>
  execPlugin(join(BIN, "bridge"), env(command, pod, socket), config, ["ip", "netns", "exec", lab.node]);

/** What a network leaves on the node: host veths on the bridge, and host-local's reservations. */
async function leftovers(network: string): Promise<{ ports: string[]; reserved: string[] }> {
  const links = await lab.nodeJson<{ ifname: string; master?: string }[]>("ip", "-j", "link", "show");
  const ports = (links ?? []).filter((l) => l.master === bridgeOf(network)).map((l) => l.ifname);
  const store = join(dataDir, network);
  const reserved = existsSync(store) ? readdirSync(store).filter((f) => /^[0-9a-f.:]+$/.test(f) && /\d/.test(f)) : [];
  return { ports, reserved };
}

const isTryAgain = (r: PluginRun) => r.code !== 0 && r.json?.code === 11;

it("the server killed (SIGKILL) in the middle of a 20-pod burst: each ADD succeeds or says try again (11); the runtime's DELs then leave nothing", async () => {
  const socket = join(dir, "kill.sock");
  const server = new ServerProcess(socket);
  await server.ready();
  const network = `${rid}kill`;
  const config = conf(network, "10.231.0.0/24");
  const pods = Array.from({ length: 20 }, (_, i) => `k${i}`);
  for (const p of pods) await lab.addPod(p);

  const adds = pods.map((p) => call("ADD", p, socket, config));
  // Killed as soon as the first ADD has been answered: the others are in flight or waiting.
  await Promise.race(adds);
  server.kill("SIGKILL");
  const results = await Promise.all(adds);
  expect(await server.exited).toBeNull();

  const outcome = results.map((r) => (r.code === 0 ? "ok" : isTryAgain(r) ? "try-again" : `other: ${r.stdout}${r.stderr}`));
  expect(outcome.filter((o) => o.startsWith("other"))).toEqual([]);
  expect(outcome).toContain("try-again"); // the kill did land mid-burst
  for (const r of results.filter(isTryAgain)) expect(r.json?.msg).toMatch(/try again/);

  // The runtime deletes every pod whose ADD did not succeed, and later the rest; with the server
  // gone the shims run the plugin themselves (the socket is stale).
  for (const p of pods) {
    const del = await call("DEL", p, socket, config);
    expect([p, del.code, del.stdout]).toEqual([p, 0, ""]);
  }
  expect(await leftovers(network)).toEqual({ ports: [], reserved: [] });
  for (const p of pods) {
    const addrs = await NetLab.sh("ip", "-n", `${rid}${p}`, "-o", "addr", "show", "scope", "global");
    expect([p, addrs.stdout]).toEqual([p, ""]);
  }

  // A new server replaces the stale socket, and ADD works again through it.
  const again = new ServerProcess(socket);
  await again.waitFor(/replaced the stale/);
  const add = await call("ADD", "k0", socket, config);
  expect(add.code).toBe(0);
  expect(again.served().some((l) => /^patchcord serve: bridge ADD k0 eth0: 0/.test(l))).toBe(true);
  expect((await call("DEL", "k0", socket, config)).code).toBe(0);
  expect(await leftovers(network)).toEqual({ ports: [], reserved: [] });
  again.kill("SIGTERM");
  expect(await again.exited).toBe(0);
}, 180_000);

it("a server restarted (SIGTERM, then started again) while ADD/DEL pairs keep coming: every call succeeds, some served and some run by the shim", async () => {
  const socket = join(dir, "restart.sock");
  const network = `${rid}rs`;
  const config = conf(network, "10.232.0.0/24");
  const workers = 4;
  const pairs = 6;
  for (let w = 0; w < workers; w++) for (let i = 0; i < pairs; i++) await lab.addPod(`r${w}x${i}`);
  let server = new ServerProcess(socket);
  const servers = [server];
  await server.ready();
  const failures: string[] = [];
  let done = 0;
  const loads = Array.from({ length: workers }, async (_, w) => {
    for (let i = 0; i < pairs; i++) {
      const pod = `r${w}x${i}`;
      for (const command of ["ADD", "DEL"]) {
        const r = await call(command, pod, socket, config);
        if (r.code !== 0) failures.push(`${command} ${pod}: ${r.stdout}${r.stderr}`);
      }
      done++;
    }
  });
  // The restart happens once the load is under way, and again before it ends.
  const restarts = (async () => {
    for (const after of [2, 2 + workers * 2]) {
      while (done < after) await sleep(10);
      server.kill("SIGTERM");
      expect(await server.ending()).toBe("exit 0");
      expect(existsSync(socket)).toBe(false); // a clean stop leaves no socket: shims run the plugin meanwhile
      await sleep(200);
      server = new ServerProcess(socket);
      servers.push(server);
      await server.ready();
    }
  })();
  await Promise.all([...loads, restarts]);
  expect(failures).toEqual([]);
  // The last server may start after the load has ended (a slow machine): count all three.
  expect(servers.reduce((n, s) => n + s.served().length, 0)).toBeGreaterThan(0);
  // Their DELs' link deletions ran on the netlink threads (a build without them would say so).
  expect(servers.flatMap((s) => s.lines.filter((l) => /netlink thread/.test(l)))).toEqual([]);
  expect(await leftovers(network)).toEqual({ ports: [], reserved: [] });
  server.kill("SIGTERM");
  expect(await server.exited).toBe(0);
}, 240_000);
