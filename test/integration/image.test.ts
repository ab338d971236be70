import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCommand } from "../../shared/kernel/run";
import { BIN, isRoot, ROOT, testIf } from "./helpers";

// The agent image, built here from the top-level Dockerfile without a registry or a Docker engine:
// scripts/image/build.sh debootstraps a Debian base from this machine's mirror, adds this machine's
// Node for the build stage, and runs `buildah bud` (its layer cache makes a second run take seconds).
// Then the image is checked from the inside, with `buildah run` and no network.
const has = (cmd: string) => spawnSync("sh", ["-c", 'command -v "$1"', "sh", cmd]).status === 0;
const missing = ["buildah", "debootstrap"].filter((c) => !has(c));
const haveContainerd = has("containerd") && has("ctr");
const it = testIf(
  isRoot && missing.length === 0,
  isRoot ? `the image build needs ${missing.join(" and ")} (apt-get install ${missing.join(" ")})` : "the image build needs root",
);

const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
const tag = `localhost/patchcord:${version}`;
const log = join(ROOT, "dist/image-build.log");
// Each `buildah run` starts a container (about half a second).
jest.setTimeout(120_000);
let built: { code: number; seconds: number; tail: string } | undefined;
let ctr = "";
// The image as a docker-archive (build.sh --archive), the form kind and minikube load into nodes.
const work = mkdtempSync("/var/tmp/pc-image-test.");
const archive = join(work, "patchcord.tar");

const buildah = (...argv: string[]) => runCommand(["buildah", ...argv]);
/** A command inside the image, without network (nothing in it should need one). */
const inImage = (...argv: string[]) => buildah("run", "--network", "none", ctr, "--", ...argv);
const host = (...argv: string[]) => runCommand([join(BIN, "patchcord"), ...argv]);

beforeAll(async () => {
  if (!isRoot || missing.length) return;
  const started = Date.now();
  mkdirSync(join(ROOT, "dist"), { recursive: true });
  const r = spawnSync(join(ROOT, "scripts/image/build.sh"), ["--archive", archive], { cwd: ROOT, encoding: "utf8", maxBuffer: 256 << 20 });
  const output = `${r.stdout}${r.stderr}`;
  writeFileSync(log, output);
  built = { code: r.status ?? 128, seconds: (Date.now() - started) / 1000, tail: output.split("\n").slice(-30).join("\n") };
  if (built.code === 0) ctr = execFileSync("buildah", ["from", "--pull=never", tag], { encoding: "utf8" }).trim();
}, 20 * 60_000);

afterAll(async () => {
  if (ctr) await buildah("rm", ctr);
  rmSync(work, { recursive: true, force: true });
});

describe("the patchcord image", () => {
  it("builds from the Dockerfile on local bases, tagged with the package version", async () => {
    expect({ code: built?.code, tail: built?.code === 0 ? "" : built?.tail }).toEqual({ code: 0, tail: "" });
    const inspect = JSON.parse((await buildah("inspect", "--type", "image", tag)).stdout) as {
      OCIv1: { config: { Entrypoint?: string[]; Cmd?: string[]; Labels?: Record<string, string> } };
      Manifest: string;
    };
    expect(inspect.OCIv1.config).toMatchObject({ Entrypoint: ["/usr/local/bin/patchcord"], Cmd: ["agent"], Labels: { "org.opencontainers.image.version": version } });
    const layers = (JSON.parse(inspect.Manifest) as { layers: { size: number }[] }).layers;
    const mib = layers.reduce((n, l) => n + l.size, 0) / 1048576;
    // eslint-disable-next-line no-console
    console.log(`${tag}: ${mib.toFixed(0)} MiB in ${layers.length} layers (uncompressed); build.sh took ${built!.seconds.toFixed(0)} s (log: dist/image-build.log)`);
    // The binary (~93 MiB), the Debian base (~75 MiB), the tools (~25 MiB): a build stage leaking
    // into it (node_modules alone is ~480 MiB) would show here.
    expect(mib).toBeLessThan(260);
    expect((await buildah("inspect", "--type", "image", `docker.io/library/patchcord:${version}`)).code).toBe(0);
  });

  it("runs the binary built from this tree: same --version and usage as dist/bin/patchcord", async () => {
    const [inside, outside] = [await inImage("/usr/local/bin/patchcord", "--version"), await host("--version")];
    expect(inside).toEqual({ code: 0, stdout: `patchcord ${version}\n`, stderr: "" });
    expect(inside).toEqual(outside);
    const [usageIn, usageOut] = [await inImage("/usr/local/bin/patchcord", "--help"), await host("--help")];
    expect(usageIn.stderr).toMatch(/^patchcord /);
    expect(usageIn).toEqual(usageOut);
  });

  it("patchcord agent --help works and says what the host binary says", async () => {
    const [inside, outside] = [await inImage("/usr/local/bin/patchcord", "agent", "--help"), await host("agent", "--help")];
    expect(inside.code).toBe(0);
    expect(inside.stdout + inside.stderr).toMatch(/NODE_NAME/);
    expect(inside).toEqual(outside);
  });

  it("has what the agent runs (ip, nft, iptables) and nothing of the build", async () => {
    expect(await inImage("ip", "-V")).toMatchObject({ code: 0, stdout: expect.stringMatching(/iproute2/) });
    expect(await inImage("nft", "--version")).toMatchObject({ code: 0, stdout: expect.stringMatching(/^nftables v1/) });
    for (const tool of ["iptables", "ip6tables", "iptables-restore", "ip6tables-restore"]) {
      expect(await inImage(tool, "--version")).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\S+ v1\.8/) });
    }
    // No Node, npm or the build machine's CA bundle (node-base.sh's) in the runtime stage.
    for (const path of ["/usr/local/bin/node", "/usr/local/lib/node_modules", "/usr/local/share/patchcord-build", "/src"]) {
      expect((await inImage("test", "-e", path)).code).toBe(1);
    }
    expect((await inImage("env")).stdout).not.toMatch(/NODE_EXTRA_CA_CERTS/);
  });

  it("patchcord doctor runs in the image with its tools (ip, grep for /proc/sys without procps): it looks, and finds no config", async () => {
    const r = await inImage("/usr/local/bin/patchcord", "doctor", "--json", "--conf-dir", "/nonexistent");
    const doc = JSON.parse(r.stdout) as { findings: { id: string }[]; cannot: string[]; commands: string[] };
    expect({ code: r.code, ids: doc.findings.map((f) => f.id), cannot: doc.cannot }).toEqual({ code: 1, ids: ["conflist-none"], cannot: [] });
    expect(doc.commands.some((c) => c.startsWith("ip -j -d addr show"))).toBe(true);
    // What it runs in other namespaces and for evidence.
    for (const tool of ["nsenter", "grep", "cat", "head", "ls"]) expect([tool, (await inImage(tool, "--version")).code]).toEqual([tool, 0]);
  });

  testIf(haveContainerd, "needs containerd and ctr (apt-get install containerd)")(
    "containerd imports the docker-archive as patchcord:<version> and runs it, as a kind or minikube node would",
    async () => {
      expect(existsSync(archive)).toBe(true);
      // A containerd of this test's own: its own root, state and socket, the CRI plugin off (so it
      // reads no CNI config), in a private mount namespace with tmpfs on /run and /opt, where
      // containerd, its shims and ctr put fifos, runc state and plugins whatever the config says:
      // nothing of it reaches the machine's own directories.
      const sock = join(work, "containerd.sock");
      writeFileSync(
        join(work, "config.toml"),
        [
          "version = 2",
          `root = ${JSON.stringify(join(work, "root"))}`,
          `state = ${JSON.stringify(join(work, "state"))}`,
          'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
          "[grpc]",
          `  address = ${JSON.stringify(sock)}`,
          "[ttrpc]",
          `  address = ${JSON.stringify(`${sock}.ttrpc`)}`,
          "",
        ].join("\n"),
      );
      const script = [
        "set -eu",
        "mount -t tmpfs pc-image-run /run && mount -t tmpfs pc-image-opt /opt",
        'containerd --config "$1" >"$5/containerd.log" 2>&1 & pid=$!',
        "trap 'kill $pid; wait $pid' EXIT",
        'i=0; while [ ! -S "$2" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done',
        'ctr --address "$2" --namespace k8s.io images import "$3" >/dev/null',
        'ctr --address "$2" --namespace k8s.io images ls -q | grep -qxF "docker.io/library/patchcord:$4"',
        'ctr --address "$2" --namespace k8s.io run --rm "docker.io/library/patchcord:$4" "pc-image-test-$$" /usr/local/bin/patchcord --version',
      ].join("\n");
      const run = await runCommand(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", join(work, "config.toml"), sock, archive, version, work]);
      expect(run).toMatchObject({ code: 0, stdout: `patchcord ${version}\n` });
    },
  );
});
