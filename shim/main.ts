/**
 * The native shim (issue 13): what a runtime executes as a plugin. It hands the call to the
 * resident server (`patchcord serve`) over its Unix socket, or, when there is no usable server,
 * replaces itself with the Bun binary. Compiled by QuickJS (scripts/build-shim.mjs); the wire is
 * server/protocol.ts.
 *
 * Until the server's hello has been accepted nothing has been sent and the shim may fall back.
 * From the request on it never does: whatever goes wrong is the spec's code 11 (try again later),
 * since the server may already be running the plugin.
 */
import * as std from "std";
import * as os from "os";
import * as native from "patchcord_native";
import { DEFAULT_SOCKET, MAX_JSON_FRAME, PROTOCOL, SHIM_TAGLINE, SOCKET_ENV, STDIN_CHUNK, frameHeader, frameLength } from "../server/protocol";
import type { Hello, Reply, Request } from "../server/protocol";
import { INTERNAL, IO_FAILURE, TRY_AGAIN_LATER, errorJson, sniffCniVersion } from "./cni";
import { basename, fallbackAdditions, pluginBinary } from "./fallback";
import { utf8Decode, utf8Encode } from "./utf8";

const HELLO_TIMEOUT_MS = 2000;
const MAX_HELLO = 64 * 1024;
const DEFAULT_SERVER_TIMEOUT_S = 120;
/** How much of stdin is kept for the cniVersion of an error (the rest is streamed and dropped). */
const VERSION_HEAD = 64 * 1024;
/** After a failed write, how long a reply the server may have sent before closing is waited for. */
const LATE_REPLY_MS = 1000;

type Env = Record<string, string>;
/** Why an exchange failed (got: bytes of the frame read before it did). */
type Failure = { why: string; timedOut?: boolean; got?: number };

const now = (): number => native.monotonicMs();

/** Waits until fd is ready for `events` (or hung up), at most until `deadline` (Infinity: no limit). */
function waitFor(fd: number, events: number, deadline: number): Failure | undefined {
  for (;;) {
    const left = deadline === Infinity ? -1 : Math.ceil(deadline - now());
    if (deadline !== Infinity && left <= 0) return { why: "timed out", timedOut: true };
    const r = native.poll(fd, events, Math.min(left, 0x7fffffff));
    if (r > 0) return undefined;
    if (r < 0 && r !== -native.EINTR) return { why: std.strerror(-r) };
  }
}

/** Reads exactly buf.length bytes from the (non-blocking) socket. */
function readFully(fd: number, buf: Uint8Array, deadline: number): Failure | undefined {
  let off = 0;
  while (off < buf.length) {
    const n = os.read(fd, buf.buffer as ArrayBuffer, buf.byteOffset + off, buf.length - off);
    if (n > 0) off += n;
    else if (n === 0) return { why: "closed", got: off };
    else if (n === -native.EAGAIN) {
      const f = waitFor(fd, native.POLLIN, deadline);
      if (f) return { ...f, got: off };
    } else if (n !== -native.EINTR) return { why: std.strerror(-n), got: off };
  }
  return undefined;
}

/** One frame of at most `max` bytes, or why there is none. */
function readFrame(fd: number, max: number, deadline: number): Uint8Array | Failure {
  const header = new Uint8Array(4);
  const f = readFully(fd, header, deadline);
  if (f) return f;
  const length = frameLength(header);
  if (length > max) return { why: `a frame of ${length} bytes, more than ${max}`, got: 4 };
  const body = new Uint8Array(length);
  const g = readFully(fd, body, deadline);
  return g ? { ...g, got: 4 + (g.got ?? 0) } : body;
}

/** Sends all of buf; each wait for the socket to drain is bounded by timeoutMs. */
function sendAll(fd: number, buf: Uint8Array, timeoutMs: number): Failure | undefined {
  let off = 0;
  while (off < buf.length) {
    const n = native.send(fd, buf.buffer as ArrayBuffer, buf.byteOffset + off, buf.length - off);
    if (n > 0) off += n;
    else if (n === -native.EAGAIN) {
      const f = waitFor(fd, native.POLLOUT, now() + timeoutMs);
      if (f) return f;
    } else if (n !== -native.EINTR) return { why: std.strerror(-n) };
  }
  return undefined;
}

/** Writes all of bytes to fd 1 or 2 (which the caller may have made non-blocking). */
function writeOut(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) {
    const n = os.write(fd, bytes.buffer as ArrayBuffer, bytes.byteOffset + off, bytes.length - off);
    if (n > 0) off += n;
    else if (n === -native.EAGAIN) waitFor(fd, native.POLLOUT, Infinity);
    else if (n !== -native.EINTR) return; // nowhere left to say anything
  }
}

const print = (fd: number, text: string): void => writeOut(fd, utf8Encode(text));

/** One read of stdin into buf[off, off + len): the byte count (0 at the end) or the error. */
function readStdin(buf: Uint8Array, off: number, len: number): number | string {
  for (;;) {
    const n = os.read(0, buf.buffer as ArrayBuffer, buf.byteOffset + off, len);
    if (n >= 0) return n;
    if (n === -native.EAGAIN) waitFor(0, native.POLLIN, Infinity);
    else if (n !== -native.EINTR) return std.strerror(-n);
  }
}

/** No usable server: become the Bun binary. Returns (an exit code) only when that fails. */
function fallback(argv: string[], env: Env): number {
  const [exe, err] = os.readlink("/proc/self/exe");
  const path = pluginBinary(env, err ? undefined : exe);
  const plugin = basename(argv[0] ?? "patchcord-shim");
  // Code 999 rather than 11: nothing was sent anywhere, and a plugin binary that is missing or not
  // executable is a broken installation, which trying again later (what 11 asks for) will not mend.
  let msg: string;
  if (path === undefined) msg = `cannot find the patchcord binary: /proc/self/exe: ${std.strerror(err)}`;
  else {
    // setenv, then execve with environ itself: every other variable goes on byte for byte
    // (a copy would go through JavaScript strings).
    const add = fallbackAdditions(env);
    for (const k of Object.keys(add)) std.setenv(k, add[k]);
    const r = native.execve(path, argv, null);
    msg = `cannot run ${path}: ${std.strerror(-r)}`;
  }
  print(1, errorJson(undefined, INTERNAL, msg));
  print(2, `${plugin}: ${msg}\n`);
  return 1;
}

/** The server's hello if it is one to go on with; undefined means fall back. */
function usableHello(fd: number): Hello | undefined {
  const frame = readFrame(fd, MAX_HELLO, now() + HELLO_TIMEOUT_MS);
  if (!(frame instanceof Uint8Array)) return undefined;
  let hello: Hello;
  try {
    hello = JSON.parse(utf8Decode(frame)) as Hello;
  } catch {
    return undefined;
  }
  if (!hello || typeof hello !== "object" || hello.protocol !== PROTOCOL || hello.refused) return undefined;
  return hello;
}

function serverTimeoutMs(env: Env): number {
  const s = Number(env.PATCHCORD_SERVER_TIMEOUT);
  return (env.PATCHCORD_SERVER_TIMEOUT && s > 0 ? s : DEFAULT_SERVER_TIMEOUT_S) * 1000;
}

function asReply(frame: Uint8Array): Reply | undefined {
  try {
    const r = JSON.parse(utf8Decode(frame)) as Reply;
    const ok = r && typeof r === "object" && Number.isInteger(r.code) && r.code >= 0 && r.code <= 255;
    return ok && typeof r.stdout === "string" && typeof r.stderr === "string" ? r : undefined;
  } catch {
    return undefined;
  }
}

/** The call, over a connection whose hello was accepted. Never falls back. */
function forward(fd: number, argv: string[], env: Env, socketPath: string): number {
  const plugin = basename(argv[0] ?? "");
  const command = env.CNI_COMMAND;
  const timeoutMs = serverTimeoutMs(env);
  // What the Bun plugin reads: stdin for a command, none for VERSION or no command at all.
  const readsStdin = Boolean(command) && command !== "VERSION";
  const head = new Uint8Array(readsStdin ? VERSION_HEAD : 0);
  let headLength = 0;
  let stdinLength = 0;
  let stdinEnded = false;

  const tryAgain = (reason: string): number => {
    const version = headLength ? sniffCniVersion(head.subarray(0, headLength), stdinEnded && stdinLength <= VERSION_HEAD) : undefined;
    const msg = `the patchcord server did not answer (${reason}); try again`;
    const details = `plugin ${plugin}, CNI_COMMAND ${command || "(unset)"}, server ${socketPath}: the call was sent, so the plugin may have run in part; it was not run a second time`;
    print(1, errorJson(version, TRY_AGAIN_LATER, msg, details));
    print(2, `${plugin}: ${msg}\n`);
    return 1;
  };

  const request: Request = { protocol: PROTOCOL, plugin, env };
  const body = utf8Encode(JSON.stringify(request), 4);
  body.set(frameHeader(body.length - 4), 0);
  let sent = sendAll(fd, body, timeoutMs);

  if (!sent && readsStdin) {
    const chunk = new Uint8Array(4 + STDIN_CHUNK);
    for (;;) {
      const n = readStdin(chunk, 4, STDIN_CHUNK);
      if (typeof n === "string") {
        // The end frame is never sent: the server gets a broken request, not a cut config.
        os.close(fd);
        const msg = "error reading network config from stdin";
        print(1, errorJson(undefined, IO_FAILURE, msg, n));
        print(2, `${plugin}: ${msg}: ${n}\n`);
        return 1;
      }
      if (n === 0) break;
      if (headLength < VERSION_HEAD) {
        const k = Math.min(n, VERSION_HEAD - headLength);
        head.set(chunk.subarray(4, 4 + k), headLength);
        headLength += k;
      }
      stdinLength += n;
      chunk.set(frameHeader(n), 0);
      sent = sendAll(fd, chunk.subarray(0, 4 + n), timeoutMs);
      if (sent) break;
    }
    stdinEnded = !sent;
  }
  if (!sent) sent = sendAll(fd, frameHeader(0), timeoutMs);
  if (sent?.timedOut) return tryAgain(`it took no more of the request for ${timeoutMs / 1000} s`);

  // A server that refuses the request part-way may have replied before closing: take that reply.
  const frame = readFrame(fd, MAX_JSON_FRAME, now() + (sent ? LATE_REPLY_MS : timeoutMs));
  os.close(fd);
  if (sent && !(frame instanceof Uint8Array)) return tryAgain(`sending the request failed: ${sent.why}`);
  if (!(frame instanceof Uint8Array)) {
    if (frame.timedOut) return tryAgain(`no reply within ${timeoutMs / 1000} s`);
    if (frame.why === "closed") return tryAgain(frame.got ? "the connection closed in the middle of the reply" : "the connection closed without a reply");
    return tryAgain(`reading the reply failed: ${frame.why}`);
  }
  const reply = asReply(frame);
  if (!reply) return tryAgain("the reply is not a valid reply");
  print(1, reply.stdout);
  print(2, reply.stderr);
  return reply.code;
}

/** Run under its own name, the shim is no plugin: it says what it is (the agent's uninstall knows it by this line). */
const OWN_NAME = "patchcord-shim";

function run(): number {
  const argv = scriptArgs;
  if (basename(argv[0] ?? "") === OWN_NAME) {
    print(2, `${SHIM_TAGLINE}\nLink it under a plugin's name (bridge, veth-routed, host-local, macvlan, ipvlan, or patchcord-<name>); it needs the binary patchcord beside it.\n`);
    return argv[1] === "--help" ? 0 : 2;
  }
  const env = std.getenviron();
  const socketPath = env[SOCKET_ENV] || DEFAULT_SOCKET;
  const fd = native.connectUnix(socketPath, HELLO_TIMEOUT_MS);
  if (fd < 0) return fallback(argv, env); // no socket, no listener, a full backlog: nothing sent
  if (!usableHello(fd)) {
    os.close(fd);
    return fallback(argv, env);
  }
  return forward(fd, argv, env, socketPath);
}

let code: number;
try {
  code = run();
} catch (e) {
  const msg = `patchcord shim: ${e instanceof Error ? e.message : String(e)}`;
  print(1, errorJson(undefined, INTERNAL, msg));
  print(2, `${msg}\n`);
  code = 1;
}
std.exit(code);
