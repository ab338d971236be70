/**
 * The built shim (dist/bin/patchcord-shim, `npm run build`) against a fake server on a unix socket
 * in a temp dir: forwarding byte for byte, the fallbacks (execve of the Bun binary or of a recorder
 * that proves argv[0], environment, stdin and pid are the shim's), code 11 once the request went
 * out, and the peak memory with a 10 MB stdin.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, Server, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_JSON_FRAME, PROTOCOL, STDIN_CHUNK, frameHeader } from "../server/protocol";

const root = join(__dirname, "..");
const SHIM = join(root, "dist/bin/patchcord-shim");
const BUN_BINARY = join(root, "dist/bin/patchcord");

let dir: string;
let shimLink: string; // <dir>/bridge -> dist/bin/patchcord-shim: invoked as "bridge"
let recorder: string;
let sockets = 0;

beforeAll(() => {
  for (const f of [SHIM, BUN_BINARY]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run \`npm run build\` before the shim tests`);
  }
  dir = mkdtempSync(join(tmpdir(), "patchcord-shim-test-"));
  shimLink = join(dir, "bridge");
  symlinkSync(SHIM, shimLink);
  // A plugin stand-in for PATCHCORD_BINARY. A script would not do: the kernel hands a #! interpreter
  // the script's path, not the caller's argv[0].
  const src = join(dir, "recorder.c");
  writeFileSync(
    src,
    String.raw`#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
extern char **environ;
int main(int argc, char **argv) {
  FILE *f = fopen(getenv("RECORD_FILE"), "w");
  fprintf(f, "%d\n", (int)getpid());
  fprintf(f, "%d\n", argc);
  for (int i = 0; i < argc; i++) fprintf(f, "%s%c", argv[i], 0);
  int n = 0;
  while (environ[n]) n++;
  fprintf(f, "%d\n", n);
  for (int i = 0; i < n; i++) fprintf(f, "%s%c", environ[i], 0);
  char buf[65536];
  size_t r;
  while ((r = fread(buf, 1, sizeof buf, stdin)) > 0) fwrite(buf, 1, r, f);
  fclose(f);
  fputs("recorded\n", stdout);
  return 42;
}
`,
  );
  recorder = join(dir, "recorder");
  execFileSync("gcc", ["-O1", "-o", recorder, src]);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Recorded {
  pid: number;
  argv: string[];
  env: Record<string, string>;
  stdin: Buffer;
}

function readRecord(file: string): Recorded {
  const b = readFileSync(file);
  let at = 0;
  const line = (): number => {
    const nl = b.indexOf(10, at);
    const v = Number(b.subarray(at, nl).toString());
    at = nl + 1;
    return v;
  };
  const strings = (n: number): string[] => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const z = b.indexOf(0, at);
      out.push(b.subarray(at, z).toString());
      at = z + 1;
    }
    return out;
  };
  const pid = line();
  const argv = strings(line());
  const env = Object.fromEntries(strings(line()).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
  return { pid, argv, env, stdin: b.subarray(at) };
}

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: Buffer;
  pid: number;
  ms: number;
}

/** Runs the shim as `bridge`; stdin: the bytes to send, or "open" to keep the pipe open (never EOF). */
function runShim(env: Record<string, string>, stdin: Buffer | "open" = Buffer.alloc(0), argv0 = shimLink, timeoutMs = 4000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(argv0, [], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.stdin.on("error", () => undefined); // a shim that reads no stdin may exit first
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`shim still running after ${timeoutMs} ms: ${Buffer.concat(err)}`));
    }, timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err), pid: child.pid!, ms: Date.now() - started });
    });
    if (stdin === "open") child.stdin.write("not to be read");
    else child.stdin.end(stdin);
  });
}

/** What the fake server saw of one connection. */
interface Seen {
  request?: { protocol: number; plugin: string; env: Record<string, string> };
  stdin: Buffer[];
  /** Sizes of the stdin frames. */
  frames: number[];
  ended: boolean;
  /** Bytes received in all. */
  bytes: number;
}

interface Behaviour {
  /** The hello frame's JSON, raw bytes to send instead, or undefined to send none. */
  hello?: unknown;
  /** What to do once the request and its stdin have arrived (or, for "early", at the request). */
  then: "reply" | "close" | "never" | "close-mid-reply" | "early-reply" | "close-at-request";
  reply?: { code: number; stdout: string; stderr: string };
}

const frame = (body: Buffer): Buffer => Buffer.concat([Buffer.from(frameHeader(body.length)), body]);
const jsonFrame = (v: unknown): Buffer => frame(Buffer.from(JSON.stringify(v)));

class FakeServer {
  readonly path = join(dir, `s${sockets++}.sock`);
  readonly seen: Seen[] = [];
  private server?: Server;
  private readonly open = new Set<Socket>();

  constructor(private readonly behaviour: Behaviour) {}

  start(): Promise<void> {
    this.server = createServer((sock) => this.serve(sock));
    return new Promise((resolve) => this.server!.listen(this.path, resolve));
  }

  stop(): Promise<void> {
    for (const s of this.open) s.destroy();
    return new Promise((resolve) => this.server!.close(() => resolve()));
  }

  private serve(sock: Socket): void {
    this.open.add(sock);
    sock.on("close", () => this.open.delete(sock));
    sock.on("error", () => undefined);
    const b = this.behaviour;
    const seen: Seen = { stdin: [], frames: [], ended: false, bytes: 0 };
    this.seen.push(seen);
    if (Buffer.isBuffer(b.hello)) sock.write(b.hello);
    else if (b.hello !== undefined) sock.write(jsonFrame(b.hello));
    let buf = Buffer.alloc(0);
    const answer = (): void => {
      const reply = jsonFrame(b.reply ?? { code: 0, stdout: "", stderr: "" });
      if (b.then === "reply") sock.end(reply);
      else if (b.then === "early-reply") sock.write(reply, () => sock.destroy()); // with stdin unread
      else if (b.then === "close" || b.then === "close-at-request") sock.destroy();
      else if (b.then === "close-mid-reply") sock.end(reply.subarray(0, 10));
    };
    sock.on("data", (c: Buffer) => {
      seen.bytes += c.length;
      buf = Buffer.concat([buf, c]);
      for (;;) {
        if (buf.length < 4) return;
        const n = buf.readUInt32BE(0);
        if (buf.length < 4 + n) return;
        const body = buf.subarray(4, 4 + n);
        buf = buf.subarray(4 + n);
        if (!seen.request) {
          if (n > MAX_JSON_FRAME) throw new Error("request frame too large");
          seen.request = JSON.parse(body.toString("utf8"));
          if (b.then === "early-reply" || b.then === "close-at-request") return answer();
        } else if (n === 0) {
          seen.ended = true;
          return answer();
        } else {
          seen.frames.push(n);
          seen.stdin.push(Buffer.from(body));
        }
      }
    });
  }
}

async function withServer<T>(behaviour: Behaviour, f: (s: FakeServer) => Promise<T>): Promise<T> {
  const s = new FakeServer(behaviour);
  await s.start();
  try {
    return await f(s);
  } finally {
    await s.stop();
  }
}

const HELLO = { protocol: PROTOCOL, version: "test" };
const cniEnv = (extra: Record<string, string> = {}) => ({ CNI_COMMAND: "ADD", CNI_CONTAINERID: "c1", CNI_NETNS: "/run/netns/x", CNI_IFNAME: "eth0", CNI_PATH: "/opt/cni/bin", ...extra });
const config = (cniVersion = "0.4.0") => Buffer.from(JSON.stringify({ cniVersion, name: "nét-✓", type: "bridge" }));

/** A recorder file that must not come to exist (nothing runs a second time). */
const noRecorder = () => {
  const file = join(dir, `never-${sockets++}.rec`);
  return { env: { PATCHCORD_BINARY: recorder, RECORD_FILE: file }, ran: () => existsSync(file) };
};

function tryAgainJson(r: Run): Record<string, unknown> {
  const out = r.stdout.toString("utf8");
  expect(out.endsWith("}\n")).toBe(true);
  expect(out).toContain('\n    "code": 11,'); // 4-space indent, as the plugins print
  const j = JSON.parse(out) as Record<string, unknown>;
  expect(j.code).toBe(11);
  expect(String(j.msg)).toMatch(/^the patchcord server did not answer \(.+\); try again$/);
  expect(r.stderr.toString().trim().split("\n")).toHaveLength(1);
  expect(r.code).toBe(1);
  return j;
}

describe("forwarding to the server", () => {
  test("env and stdin arrive byte for byte; stdout, stderr and the exit code come back exactly", async () => {
    const reply = { code: 7, stdout: '{\n    "ünïcödé": "🚀 ok"\n}\n', stderr: "warnung: Ärger ✗\nzweite Zeile\n" };
    await withServer({ hello: HELLO, then: "reply", reply }, async (s) => {
      const env = cniEnv({ PATCHCORD_SOCKET: s.path, K8S_POD_NAME: "pöd-🚀", EMPTY: "", WITH_EQ: "a=b=c" });
      const stdin = Buffer.concat([config(), Buffer.from("\n\u00e9\u{1f680}")]);
      const r = await runShim(env, stdin);
      expect(s.seen).toHaveLength(1);
      expect(s.seen[0].request).toEqual({ protocol: PROTOCOL, plugin: "bridge", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env } });
      expect(Buffer.concat(s.seen[0].stdin).equals(stdin)).toBe(true);
      expect(s.seen[0].ended).toBe(true);
      expect(r.stdout.equals(Buffer.from(reply.stdout, "utf8"))).toBe(true);
      expect(r.stderr.equals(Buffer.from(reply.stderr, "utf8"))).toBe(true);
      expect(r.code).toBe(7);
    });
  });

  test("a 10 MB stdin (any bytes) is streamed in frames of at most STDIN_CHUNK", async () => {
    const big = Buffer.alloc(10 * 1024 * 1024);
    let x = 12345;
    for (let i = 0; i < big.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      big[i] = x >>> 24;
    }
    await withServer({ hello: HELLO, then: "reply", reply: { code: 0, stdout: "ok\n", stderr: "" } }, async (s) => {
      const r = await runShim(cniEnv({ PATCHCORD_SOCKET: s.path }), big);
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toBe("ok\n");
      const got = Buffer.concat(s.seen[0].stdin);
      expect(got.length).toBe(big.length);
      expect(got.equals(big)).toBe(true);
      expect(Math.max(...s.seen[0].frames)).toBeLessThanOrEqual(STDIN_CHUNK);
    });
  });

  test.each([["VERSION"], [undefined]])("CNI_COMMAND=%s: stdin is not read (an open pipe does not hold it up)", async (command) => {
    await withServer({ hello: HELLO, then: "reply", reply: { code: 0, stdout: "v\n", stderr: "" } }, async (s) => {
      const env: Record<string, string> = { PATCHCORD_SOCKET: s.path };
      if (command) env.CNI_COMMAND = command;
      const r = await runShim(env, "open");
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toBe("v\n");
      expect(s.seen[0].ended).toBe(true);
      expect(s.seen[0].frames).toEqual([]);
    });
  });

  test("a server that answers before it has read all of stdin is heard, not retried", async () => {
    const reply = { code: 1, stdout: '{"code": 7, "msg": "too big"}\n', stderr: "" };
    await withServer({ hello: HELLO, then: "early-reply", reply }, async (s) => {
      const never = noRecorder();
      const r = await runShim(cniEnv({ PATCHCORD_SOCKET: s.path, ...never.env }), Buffer.alloc(8 * 1024 * 1024, 0x41));
      expect(r.stdout.toString()).toBe(reply.stdout);
      expect(r.code).toBe(1);
      expect(never.ran()).toBe(false);
    });
  });
});

describe("fallback: no usable server, the shim becomes the Bun binary", () => {
  const expectVersionJson = (r: Run) => {
    expect(r.code).toBe(0);
    const v = JSON.parse(r.stdout.toString()) as { cniVersion: string; supportedVersions: string[] };
    expect(v.supportedVersions).toContain("1.1.0");
  };

  test("no socket file: VERSION answered by dist/bin/patchcord", async () => {
    expectVersionJson(await runShim({ PATCHCORD_SOCKET: join(dir, "none.sock"), CNI_COMMAND: "VERSION" }));
  });

  test("a socket file nobody listens on (connection refused)", async () => {
    const path = join(dir, "dead.sock");
    const child = spawn(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(path)}, () => console.log("up"))`], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise((resolve) => child.stdout.once("data", resolve));
    child.kill("SIGKILL"); // dies without removing its socket file
    await new Promise((resolve) => child.once("exit", resolve));
    expect(existsSync(path)).toBe(true);
    expectVersionJson(await runShim({ PATCHCORD_SOCKET: path, CNI_COMMAND: "VERSION" }));
  });

  test("a refused hello", async () => {
    await withServer({ hello: { ...HELLO, refused: "caller is not root" }, then: "never" }, async (s) => {
      expectVersionJson(await runShim({ PATCHCORD_SOCKET: s.path, CNI_COMMAND: "VERSION" }));
      expect(s.seen[0].bytes).toBe(0);
    });
  });

  test("another protocol: execve of PATCHCORD_BINARY with the shim's argv[0], environment, stdin and pid", async () => {
    await withServer({ hello: { protocol: PROTOCOL + 1, version: "future" }, then: "never" }, async (s) => {
      const file = join(dir, "mismatch.rec");
      const env = cniEnv({ PATCHCORD_SOCKET: s.path, PATCHCORD_BINARY: recorder, RECORD_FILE: file, NON_ASCII: "ü🚀" });
      const stdin = Buffer.concat([config(), Buffer.alloc(200 * 1024, 0x20)]);
      const r = await runShim(env, stdin);
      expect(r.code).toBe(42);
      expect(r.stdout.toString()).toBe("recorded\n");
      const rec = readRecord(file);
      expect(rec.pid).toBe(r.pid); // the same process: execve, no fork
      expect(rec.argv).toEqual([shimLink]);
      expect(rec.env).toEqual({ PATH: process.env.PATH ?? "/usr/bin:/bin", ...env, BUN_JSC_useJIT: "0" });
      expect(rec.stdin.equals(stdin)).toBe(true); // nothing of stdin was read before
      expect(s.seen[0].bytes).toBe(0);
    });
  });

  test("no hello within 2 s", async () => {
    await withServer({ then: "never" }, async (s) => {
      const r = await runShim({ PATCHCORD_SOCKET: s.path, CNI_COMMAND: "VERSION" });
      expectVersionJson(r);
      expect(r.ms).toBeGreaterThanOrEqual(1900);
      expect(s.seen[0].bytes).toBe(0);
    });
  });

  test("a hello that is not JSON", async () => {
    await withServer({ hello: frame(Buffer.from("hello?")), then: "never" }, async (s) => {
      expectVersionJson(await runShim({ PATCHCORD_SOCKET: s.path, CNI_COMMAND: "VERSION" }));
    });
  });

  test("the Bun binary missing: code 999 naming it, exit 1", async () => {
    const r = await runShim({ PATCHCORD_SOCKET: join(dir, "none.sock"), PATCHCORD_BINARY: join(dir, "missing"), CNI_COMMAND: "ADD" });
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout.toString()) as Record<string, unknown>;
    expect(j).toEqual({ cniVersion: "1.1.0", code: 999, msg: `cannot run ${join(dir, "missing")}: No such file or directory` });
    expect(r.stderr.toString()).toBe(`bridge: cannot run ${join(dir, "missing")}: No such file or directory\n`);
  });
});

describe("after the request went out: code 11, never a second run", () => {
  test("the server closes after reading the request", async () => {
    await withServer({ hello: HELLO, then: "close" }, async (s) => {
      const never = noRecorder();
      const r = await runShim(cniEnv({ PATCHCORD_SOCKET: s.path, ...never.env }), config("0.4.0"));
      const j = tryAgainJson(r);
      expect(j.cniVersion).toBe("0.4.0");
      expect(s.seen[0].ended).toBe(true);
      expect(never.ran()).toBe(false);
    });
  });

  test("the server closes while the shim is still sending stdin", async () => {
    await withServer({ hello: HELLO, then: "close-at-request" }, async (s) => {
      const never = noRecorder();
      const r = await runShim(cniEnv({ PATCHCORD_SOCKET: s.path, ...never.env }), Buffer.concat([config("1.1.0"), Buffer.alloc(4 * 1024 * 1024, 0x20)]));
      const j = tryAgainJson(r);
      expect(j.msg).toMatch(/\(sending the request failed: (Broken pipe|Connection reset by peer)\)/);
      expect(j.cniVersion).toBe("1.1.0");
      expect(s.seen[0].ended).toBe(false);
      expect(never.ran()).toBe(false);
    });
  });

  test("the server never answers (PATCHCORD_SERVER_TIMEOUT=1)", async () => {
    await withServer({ hello: HELLO, then: "never" }, async (s) => {
      const never = noRecorder();
      const r = await runShim(cniEnv({ PATCHCORD_SOCKET: s.path, PATCHCORD_SERVER_TIMEOUT: "1", ...never.env }), config("1.0.0"));
      const j = tryAgainJson(r);
      expect(j.msg).toContain("no reply within 1 s");
      expect(j.cniVersion).toBe("1.0.0");
      expect(r.ms).toBeGreaterThanOrEqual(900);
      expect(never.ran()).toBe(false);
    });
  });

  test("the server closes in the middle of the reply", async () => {
    await withServer({ hello: HELLO, then: "close-mid-reply", reply: { code: 0, stdout: "x".repeat(100), stderr: "" } }, async (s) => {
      const never = noRecorder();
      const r = await runShim(cniEnv({ PATCHCORD_SOCKET: s.path, ...never.env }), config("0.3.1"));
      const j = tryAgainJson(r);
      expect(j.msg).toContain("in the middle of the reply");
      expect(j.cniVersion).toBe("0.3.1");
      expect(never.ran()).toBe(false);
    });
  });

  test("a config larger than the 64 KiB the shim keeps: cniVersion found in its head; VERSION: 1.1.0", async () => {
    await withServer({ hello: HELLO, then: "close" }, async (s) => {
      const doc = Buffer.from(JSON.stringify({ cniVersion: "0.3.0", name: "n", type: "bridge", pad: "p".repeat(300 * 1024) }));
      const j = tryAgainJson(await runShim(cniEnv({ PATCHCORD_SOCKET: s.path }), doc));
      expect(j.cniVersion).toBe("0.3.0");
      const v = tryAgainJson(await runShim({ PATCHCORD_SOCKET: s.path, CNI_COMMAND: "VERSION" }, config("0.4.0")));
      expect(v.cniVersion).toBe("1.1.0");
    });
  });
});

describe("footprint", () => {
  /** Peak RSS in KiB of one shim call, by GNU time. */
  function peakKiB(env: Record<string, string>, input: Buffer): number {
    const r = spawnSync("/usr/bin/time", ["-v", shimLink], { env: { PATH: process.env.PATH, ...env }, input });
    const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr.toString());
    if (!m) throw new Error(`no figure from /usr/bin/time: ${r.stderr}`);
    return Number(m[1]);
  }

  test("peak RSS at most 8 MiB, with a small and with a 10 MB stdin", async () => {
    if (!existsSync("/usr/bin/time")) throw new Error("/usr/bin/time is missing (Debian package time, scripts/setup-system.sh)");
    // The server runs in this process, so the shim runs asynchronously beside it.
    await withServer({ hello: HELLO, then: "reply", reply: { code: 0, stdout: "{}\n", stderr: "" } }, async (s) => {
      const measure = (input: Buffer) =>
        new Promise<number>((resolve, reject) => {
          const child = spawn("/usr/bin/time", ["-v", shimLink], { env: { PATH: process.env.PATH ?? "", ...cniEnv({ PATCHCORD_SOCKET: s.path }) } });
          let err = "";
          child.stderr.on("data", (c) => (err += c));
          child.stdout.resume();
          child.on("close", (code) => {
            const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(err);
            if (code !== 0 || !m) reject(new Error(`time -v: exit ${code}: ${err}`));
            else resolve(Number(m[1]));
          });
          child.stdin.end(input);
        });
      const small = await measure(config());
      const big = await measure(Buffer.alloc(10 * 1024 * 1024, 0x61));
      expect(Buffer.concat(s.seen[1].stdin).length).toBe(10 * 1024 * 1024);
      expect(small).toBeLessThanOrEqual(8 * 1024);
      expect(big).toBeLessThanOrEqual(8 * 1024);
    });
    // and in fallback mode up to the execve (a missing binary)
    expect(peakKiB({ PATCHCORD_SOCKET: join(dir, "none.sock"), PATCHCORD_BINARY: join(dir, "missing"), CNI_COMMAND: "ADD" }, config())).toBeLessThanOrEqual(8 * 1024);
  });
});
