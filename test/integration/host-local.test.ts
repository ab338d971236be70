import { join } from "node:path";
import { tempDataDir } from "../../plugins/host-local/test-helpers";
import { BIN, execPlugin, haveBinaries, haveReference, REFERENCE_DIR, SPEC_VERSIONS, testIf } from "./helpers";

// host-local through its exec interface, as a runtime or a parent plugin calls it.
const ours = join(BIN, "host-local");
const reference = join(REFERENCE_DIR, "host-local");
const it = testIf(haveBinaries, "dist/bin/host-local is not built (npm run build)");
const itRef = testIf(haveBinaries && haveReference, "reference host-local missing (apt-get install containernetworking-plugins)");

let data: ReturnType<typeof tempDataDir>;
beforeEach(() => {
  data = tempDataDir("pc-hl-int-");
});
afterEach(() => data.remove());

const conf = (version: string, ipam: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  cniVersion: version,
  name: "testnet",
  type: "bridge",
  bridge: "cni0",
  ipam: { type: "host-local", dataDir: data.dir, ranges: [[{ subnet: "10.20.0.0/24" }], [{ subnet: "fd20::/120" }]], routes: [{ dst: "0.0.0.0/0" }], ...ipam },
  ...extra,
});
const env = (command: string, id = "ctr1", ifname = "eth0") => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: id,
  CNI_NETNS: "/var/run/netns/ignored-by-ipam",
  CNI_IFNAME: ifname,
  CNI_PATH: BIN,
});

describe.each(SPEC_VERSIONS)("host-local %s", (version) => {
  it("ADD returns one address per range set in the config's version; DEL frees them", async () => {
    const add = await execPlugin(ours, env("ADD"), conf(version));
    expect(add.stderr).toBe("");
    expect(add.code).toBe(0);
    const legacy = version.startsWith("0.");
    expect(add.json).toEqual({
      cniVersion: version,
      ips: [
        { ...(legacy ? { version: "4" } : {}), address: "10.20.0.2/24", gateway: "10.20.0.1" },
        { ...(legacy ? { version: "6" } : {}), address: "fd20::2/120", gateway: "fd20::1" },
      ],
      routes: [{ dst: "0.0.0.0/0" }],
      ...(legacy ? { dns: {} } : {}),
    });
    expect(data.snapshot("testnet")).toMatchObject({ "10.20.0.2": "ctr1\r\neth0", "fd20::2": "ctr1\r\neth0" });
    const del = await execPlugin(ours, env("DEL"), conf(version, {}, { prevResult: add.json }));
    expect([del.code, del.stdout]).toEqual([0, ""]);
    expect(Object.keys(data.snapshot("testnet")).sort()).toEqual(["last_reserved_ip.0", "last_reserved_ip.1"]);
    // DEL is idempotent.
    expect((await execPlugin(ours, env("DEL"), conf(version))).code).toBe(0);
  });

  it(version >= "0.4.0" ? "CHECK passes while reserved and fails once the reservation is gone" : "CHECK is refused with code 1", async () => {
    const add = await execPlugin(ours, env("ADD"), conf(version));
    const check = await execPlugin(ours, env("CHECK"), conf(version, {}, { prevResult: add.json }));
    if (version < "0.4.0") {
      expect(check.json).toMatchObject({ code: 1, msg: "config version does not allow CHECK" });
      return;
    }
    expect([check.code, check.stdout]).toEqual([0, ""]);
    await execPlugin(ours, env("DEL"), conf(version));
    const again = await execPlugin(ours, env("CHECK"), conf(version, {}, { prevResult: add.json }));
    expect(again.code).toBe(1);
    expect(again.json).toMatchObject({ cniVersion: version, code: 102 });
  });

  it(version === "1.1.0" ? "GC and STATUS work" : "GC and STATUS are refused with code 1", async () => {
    for (const command of ["GC", "STATUS"]) {
      const r = await execPlugin(ours, { CNI_COMMAND: command, CNI_PATH: BIN }, conf(version, {}, { "cni.dev/valid-attachments": [] }));
      if (version === "1.1.0") expect([r.code, r.stdout]).toEqual([0, ""]);
      else expect(r.json).toMatchObject({ code: 1, msg: `config version does not allow ${command}` });
    }
  });
});

describe("host-local behaviour", () => {
  const v = "1.1.0";
  const small = { ranges: [[{ subnet: "10.30.0.0/29" }]] }; // 10.30.0.2-6 allocatable

  it("50 concurrent ADDs get 50 distinct addresses and 50 DELs free them all", async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `burst${i}`);
    const adds = await Promise.all(ids.map((id) => execPlugin(ours, env("ADD", id), conf(v))));
    expect(adds.map((a) => a.code)).toEqual(ids.map(() => 0));
    const v4 = adds.map((a) => (a.json!.ips as { address: string }[])[0].address);
    const v6 = adds.map((a) => (a.json!.ips as { address: string }[])[1].address);
    expect(new Set(v4).size).toBe(50);
    expect(new Set(v6).size).toBe(50);
    const dels = await Promise.all(ids.map((id) => execPlugin(ours, env("DEL", id), conf(v))));
    expect(dels.map((d) => d.code)).toEqual(ids.map(() => 0));
    expect(Object.keys(data.snapshot("testnet")).filter((n) => !n.startsWith("last_reserved_ip"))).toEqual([]);
  }, 60_000);

  itRef("ours and the reference, interleaved concurrently on one dataDir, never share an address", async () => {
    const cfg = conf("1.0.0", { ranges: [[{ subnet: "10.40.0.0/26" }]] }); // 61 addresses for 50 pods
    const ids = Array.from({ length: 50 }, (_, i) => `mix${i}`);
    const pick = (i: number) => (i % 2 ? reference : ours);
    const adds = await Promise.all(ids.map((id, i) => execPlugin(pick(i), env("ADD", id), cfg)));
    expect(adds.map((a) => [a.code, a.stderr.includes("panic")])).toEqual(ids.map(() => [0, false]));
    const addrs = adds.map((a) => (a.json!.ips as { address: string }[])[0].address);
    expect(new Set(addrs).size).toBe(50);
    const files = data.snapshot("testnet");
    ids.forEach((id, i) => expect(files[addrs[i].split("/")[0]]).toBe(`${id}\r\neth0`));
    // Each frees what the other reserved.
    const dels = await Promise.all(ids.map((id, i) => execPlugin(pick(i + 1), env("DEL", id), cfg)));
    expect(dels.map((d) => d.code)).toEqual(ids.map(() => 0));
    expect(Object.keys(data.snapshot("testnet")).filter((n) => /^\d/.test(n))).toEqual([]);
  }, 60_000);

  it("exhaustion of a /29 gives code 100 naming the range and leaves the store unchanged", async () => {
    for (let i = 0; i < 5; i++) expect((await execPlugin(ours, env("ADD", `full${i}`), conf(v, small))).code).toBe(0);
    const before = data.snapshot("testnet");
    const r = await execPlugin(ours, env("ADD", "one-too-many"), conf(v, small));
    expect(r.json).toEqual({ cniVersion: v, code: 100, msg: "no IP addresses available in range set: 10.30.0.1-10.30.0.6" });
    expect(data.snapshot("testnet")).toEqual(before);
    const status = await execPlugin(ours, { CNI_COMMAND: "STATUS" }, conf(v, small));
    expect(status.json).toMatchObject({ code: 50 });
    await execPlugin(ours, env("DEL", "full3"), conf(v, small));
    expect((await execPlugin(ours, { CNI_COMMAND: "STATUS" }, conf(v, small))).code).toBe(0);
  });

  it("a requested address (CNI_ARGS IP= or the ips capability) is honoured, and refused when taken", async () => {
    const a = await execPlugin(ours, { ...env("ADD", "req1"), CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.30.0.5" }, conf(v, small));
    expect((a.json!.ips as { address: string }[])[0].address).toBe("10.30.0.5/29");
    const b = await execPlugin(ours, env("ADD", "req2"), conf(v, small, { runtimeConfig: { ips: ["10.30.0.5/29"] } }));
    expect(b.json).toMatchObject({ code: 101, msg: expect.stringContaining("10.30.0.5 is not available") });
    const c = await execPlugin(ours, env("ADD", "req3"), conf(v, small, { runtimeConfig: { ips: ["10.99.0.5"] } }));
    expect(c.json).toMatchObject({ code: 7, msg: "failed to allocate all requested IPs: 10.99.0.5 (not in any range set)" });
  });

  it("a second ADD for the same container and ifname is refused", async () => {
    await execPlugin(ours, env("ADD", "dup"), conf(v, small));
    const r = await execPlugin(ours, env("ADD", "dup"), conf(v, small));
    expect(r.json).toMatchObject({ code: 101, msg: "10.30.0.2 has been allocated to dup, duplicate allocation is not allowed" });
  });

  it("GC releases reservations not listed as valid attachments and keeps the valid ones", async () => {
    for (const id of ["keep", "stale1", "stale2"]) await execPlugin(ours, env("ADD", id), conf(v, small));
    const noList = await execPlugin(ours, { CNI_COMMAND: "GC", CNI_PATH: BIN }, conf(v, small));
    expect(noList.code).toBe(0);
    expect(Object.values(data.snapshot("testnet")).filter((c) => c.includes("\r\n"))).toHaveLength(3);
    const gc = await execPlugin(ours, { CNI_COMMAND: "GC", CNI_PATH: BIN }, conf(v, small, { "cni.dev/valid-attachments": [{ containerID: "keep", ifname: "eth0" }] }));
    expect([gc.code, gc.stdout]).toEqual([0, ""]);
    expect(data.snapshot("testnet")).toMatchObject({ "10.30.0.2": "keep\r\neth0" });
    expect(Object.values(data.snapshot("testnet")).filter((c) => c.includes("\r\n"))).toEqual(["keep\r\neth0"]);
  });

  it("without CNI_COMMAND prints a usage line to stderr and a code-4 error to stdout", async () => {
    const r = await execPlugin(ours, {}, "");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^host-local \(patchcord [0-9.]+\): .*CNI protocol versions supported: 0\.3\.0, 0\.3\.1, 0\.4\.0, 1\.0\.0, 1\.1\.0\n/);
    expect(r.json).toMatchObject({ code: 4, msg: "required env variables [CNI_COMMAND] missing" });
  });

  it("VERSION lists the supported versions", async () => {
    const r = await execPlugin(ours, { CNI_COMMAND: "VERSION" }, { cniVersion: "1.0.0" });
    // VERSION reads no stdin (libcni sends none) and names our newest version.
    expect(r.json).toEqual({ cniVersion: "1.1.0", supportedVersions: ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] });
  });

  const good = () => conf(v, small);
  test.each([
    ["malformed JSON", env("ADD"), () => "{not json", 6],
    ["an unknown version", env("ADD"), () => ({ ...good(), cniVersion: "9.9.9" }), 1],
    ["no cniVersion (means 0.1.0)", env("ADD"), () => ({ ...good(), cniVersion: undefined }), 1],
    ["missing CNI_CONTAINERID", { ...env("ADD"), CNI_CONTAINERID: "" }, good, 4],
    ["a container id with ../", env("ADD", "../../etc/passwd"), good, 4],
    ["an ifname with a newline", env("ADD", "c", "eth0\nlink del lo"), good, 4],
    ["an ifname with a space", env("ADD", "c", "eth0 up"), good, 4],
    ["an ifname over 15 bytes", env("ADD", "c", "abcdefghijklmnop"), good, 4],
    ["an unknown CNI_COMMAND", env("FROB"), good, 4],
    ["a network name with ../", env("ADD"), () => ({ ...good(), name: "../escape" }), 7],
    ["a bad subnet", env("ADD"), () => conf(v, { ranges: [[{ subnet: "10.0.0.0/33" }]] }), 7],
    ["a relative dataDir", env("ADD"), () => conf(v, { dataDir: "relative/x" }), 7],
    ["an unsupported ipam key", env("ADD"), () => conf(v, { rangez: [] }), 2],
  ])("%s gets its error code and changes nothing", async (_what, e, config, code) => {
    expect(haveBinaries).toBe(true);
    const r = await execPlugin(ours, e as Record<string, string>, config());
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ code });
    expect(typeof (r.json as { msg: unknown }).msg).toBe("string");
    expect(r.stdout).not.toMatch(/\n\s+at /); // never a stack trace on stdout
    expect(data.snapshot("testnet")).toEqual({});
  });
});
