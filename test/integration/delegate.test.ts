import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { delegate } from "../../shared/cni/delegate";
import { withIpamAdd } from "../../shared/cni/ipam";
import { tempDataDir } from "../../plugins/host-local/test-helpers";
import { BIN, callerEnv, haveBinaries, testIf } from "./helpers";

// IPAM delegation with the real host-local binary and with small fake plugins.
const it = testIf(haveBinaries, "dist/bin/host-local is not built (npm run build)");
let data: ReturnType<typeof tempDataDir>;
let fakes: string;
beforeEach(() => {
  data = tempDataDir("pc-deleg-");
  fakes = mkdtempSync(join(tmpdir(), "pc-fake-"));
});
afterEach(() => {
  data.remove();
  rmSync(fakes, { recursive: true, force: true });
});

const config = (subnet = "10.50.0.0/29") =>
  Buffer.from(JSON.stringify({ cniVersion: "1.0.0", name: "deleg", type: "parent", ipam: { type: "host-local", dataDir: data.dir, subnet } }));
const ctx = (stdin: Buffer, path = [BIN]) => ({
  path,
  env: { ...callerEnv(), CNI_COMMAND: "ADD", CNI_CONTAINERID: "p1", CNI_NETNS: "/x", CNI_IFNAME: "eth0", CNI_PATH: path.join(":") },
  stdin,
  version: "1.0.0",
});
const reserved = () => Object.keys(data.snapshot("deleg")).filter((n) => /^\d/.test(n));

it("withIpamAdd() hands the IPAM result to the caller and keeps the reservation on success", async () => {
  const address = await withIpamAdd("host-local", ctx(config()), async (r) => r.ips![0].address);
  expect(address).toBe("10.50.0.2/29");
  expect(reserved()).toEqual(["10.50.0.2"]);
});

it("withIpamAdd() runs IPAM DEL when the caller fails after IPAM ADD", async () => {
  const failing = withIpamAdd("host-local", ctx(config()), async () => {
    expect(reserved()).toEqual(["10.50.0.2"]);
    throw new Error("late step failed");
  });
  await expect(failing).rejects.toThrow("late step failed");
  expect(reserved()).toEqual([]);
});

it("a delegate's error JSON is passed on unchanged", async () => {
  const stdin = config("10.0.0.0/33");
  await expect(delegate("ADD", "host-local", ctx(stdin))).rejects.toMatchObject({ code: 7, message: 'ipam.subnet: must be a CIDR, got "10.0.0.0/33"' });
});

test("the delegate gets the same stdin bytes and environment, with CNI_COMMAND replaced", async () => {
  const log = join(fakes, "log");
  const fake = join(fakes, "fake-ipam");
  writeFileSync(fake, `#!/bin/sh\n{ echo "$CNI_COMMAND $CNI_CONTAINERID $CNI_IFNAME"; cat; } > ${log}\necho "warning from fake" >&2\n`);
  chmodSync(fake, 0o755);
  const stdin = Buffer.from('{"cniVersion":"1.0.0","name":"x","ipam":{"type":"fake-ipam"},"extra":[1, 2]}');
  const stderr: string[] = [];
  await delegate("DEL", "fake-ipam", { ...ctx(stdin, [join(fakes, "missing"), fakes]), stderr: (t) => stderr.push(t) });
  expect(readFileSync(log, "utf8")).toBe(`DEL p1 eth0\n${stdin.toString()}`);
  expect(stderr.join("")).toBe("warning from fake\n");
});

test("a delegate that fails without error JSON becomes a clear error with its stderr", async () => {
  const fake = join(fakes, "broken-ipam");
  writeFileSync(fake, "#!/bin/sh\necho 'segfault-ish' >&2\nexit 3\n");
  chmodSync(fake, 0o755);
  await expect(delegate("ADD", "broken-ipam", ctx(Buffer.from("{}"), [fakes]))).rejects.toMatchObject({ code: 104, message: "plugin broken-ipam failed: segfault-ish" });
});

test("a missing or unsafe plugin type is an error before anything runs", async () => {
  await expect(delegate("ADD", "nope", ctx(Buffer.from("{}"), [fakes]))).rejects.toMatchObject({ code: 104, message: `failed to find plugin "nope" in path [${fakes}]` });
  await expect(delegate("ADD", "../bin/sh", ctx(Buffer.from("{}"), [fakes]))).rejects.toMatchObject({ code: 7 });
  await expect(delegate("ADD", "host-local", ctx(Buffer.from("{}"), []))).rejects.toMatchObject({ code: 4 });
});
