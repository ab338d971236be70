import { AsyncLocalStorage } from "node:async_hooks";
import { chmodSync, closeSync, constants, fstatSync, lstatSync, openSync, readSync, statSync, unlinkSync, writeSync, ftruncateSync } from "node:fs";
import { dirname } from "node:path";
import type { PluginIO } from "../shared/cni/skeleton";
import { ErrorCode } from "../shared/cni/errors";
import { isSupportedVersion, NEWEST_VERSION } from "../shared/cni/versions";
import { setHostNetnsSource } from "../shared/kernel/netns";
import { setSlowOpRunner } from "../shared/kernel/netlink/offload";
import type { netlinkPool } from "./netlink-pool";
import { netlinkAvailable, peerCredentials, tryLockExclusive } from "../shared/sys/syscalls";
import { PATCHCORD_VERSION } from "../shared/version";
import { pluginFor, runNamedPlugin } from "../plugins/registry";
import { attachmentKey, FrameError, FrameReader, jsonFrame, parseRequest } from "./frames";
import { Hello, MAX_JSON_FRAME, MAX_STDIN, PROTOCOL, Reply, Request, STDIN_CHUNK } from "./protocol";
import { Scheduler, Ticket } from "./schedule";
import { prepareSocketDir, ServeError } from "./socket-dir";

export { ServeError } from "./socket-dir";

/**
 * The resident CNI server (`patchcord serve`, and the node agent's): the shims hand it their calls
 * over a Unix socket (./protocol.ts) and it runs each one warm, through the same runNamedPlugin an
 * exec'd plugin runs, with the caller's environment and stdin and, as its host side, the caller's
 * network namespace. Bun only: it needs the FFI (SO_PEERCRED, setns, flock) and Bun.listen.
 */
export interface ServerOptions {
  /** The socket's path; its lock is the same path + ".lock". */
  socket: string;
  /** One line per event, without a trailing newline. */
  log: (line: string) => void;
  /** One log line per call (plugin, command, container, interface, exit code, ms). */
  logRequests?: boolean;
  /** Calls running at once (default 16); later ones wait with their stdin unread. */
  maxInFlight?: number;
  /** Connections held at once (default 1024); beyond, a connection is closed before its hello, so its shim runs the plugin itself. */
  maxConnections?: number;
  /** A client that sends nothing (or reads nothing of its reply) for this long is dropped (default 30 s). */
  stallTimeoutMs?: number;
  /** How long stop() waits for calls in flight (default 30 s). */
  shutdownGraceMs?: number;
  /** The multi-call binary's usage text, added to the unknown-plugin message as its main adds it. */
  usage?: () => string;
}

export interface RunningServer {
  socket: string;
  /** Stops accepting, lets calls in flight finish (bounded), removes the socket and its lock. */
  stop(): Promise<void>;
}

/** Another live server holds the socket: nothing was changed. */
export interface Busy {
  busy: string;
}

interface BunSocket {
  data: Conn;
  readonly fd: number;
  write(data: Uint8Array): number;
  end(): void;
  terminate(): void;
  pause(): void;
  resume(): void;
}

interface BunListener {
  stop(closeActiveConnections?: boolean): void;
}

interface BunNet {
  listen(o: {
    unix: string;
    socket: {
      open(s: BunSocket): void;
      data(s: BunSocket, d: Uint8Array): void;
      drain(s: BunSocket): void;
      close(s: BunSocket): void;
      error(s: BunSocket, e: Error): void;
    };
  }): BunListener;
  connect(o: { unix: string; socket: { open(s: { end(): void }): void; data(): void; error?(): void } }): Promise<unknown>;
}

type Phase = "request" | "waiting" | "stdin" | "running" | "replying" | "closed";
type StdinEnd = "complete" | "abandoned";

interface Conn {
  socket: BunSocket;
  pid: number;
  phase: Phase;
  reader: FrameReader;
  /** Whether the client sent anything (a connection closed before a byte is a probe, not worth a line). */
  spoke: boolean;
  request?: Request;
  netnsFd?: number;
  /** The caller's network namespace as a path for the call, undefined when it is the server's. */
  netnsPath?: string;
  stdin: Uint8Array[];
  stdinSize: number;
  stdinDone?: (end: StdinEnd) => void;
  ticket?: Ticket;
  /** Bytes accepted for sending and not yet taken by the kernel. */
  out: Uint8Array[];
  endWhenSent: boolean;
  timer?: ReturnType<typeof setTimeout>;
}

const O_CLOEXEC = 0o2000000;
const DEFAULTS = { maxInFlight: 16, maxConnections: 1024, stallTimeoutMs: 30_000, shutdownGraceMs: 30_000 };
/** Sockets' path limit (sun_path, with its terminating NUL). */
const MAX_SOCKET_PATH = 107;

/** The host side's namespace of the call this code runs for (see shared/kernel/netns.ts hostNetns). */
const callerNetns = new AsyncLocalStorage<string | undefined>();
let sourceSet = false;
/** The threads that wait out slow kernel operations, shared by the process's servers. */
let pool: ReturnType<typeof netlinkPool> | undefined;
/** The namespace path of the call the current code runs for (what the server hands setHostNetnsSource). */
export const currentCallerNetns = (): string | undefined => callerNetns.getStore();

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e)).replace(/\s*[\r\n]+\s*/g, " | ");

/** console.log's framing of a text, which is what an exec'd plugin prints (skeleton.ts processIO). */
const asLine = (text: string): string => (text.endsWith("\n") ? text : text + "\n");

function cniVersionOf(stdin: Buffer): string {
  const m = /"cniVersion"\s*:\s*"([^"\\]*)"/.exec(stdin.subarray(0, 64 * 1024).toString("utf8"));
  return m && isSupportedVersion(m[1]) ? m[1] : NEWEST_VERSION;
}

const errorJson = (cniVersion: string, code: number, msg: string): string => JSON.stringify({ cniVersion, code, msg }, null, 4) + "\n";

/**
 * The reply as a frame within MAX_JSON_FRAME: stderr (diagnostics) is cut first; a result that
 * does not fit even so becomes an error.
 */
export function replyFrame(reply: Reply): Uint8Array {
  let f = jsonFrame(reply);
  if (f.length - 4 <= MAX_JSON_FRAME) return f;
  const note = "\n[patchcord server: the rest of stderr did not fit in the reply]\n";
  const stderr = Buffer.from(reply.stderr);
  // Escaping may make the JSON longer than the bytes: cut again, shorter, until it fits.
  const rest = jsonFrame({ ...reply, stderr: note }).length - 4;
  for (let room = Math.min(stderr.length, MAX_JSON_FRAME - rest - 1024); room > 0; room = Math.floor(room / 2)) {
    f = jsonFrame({ ...reply, stderr: stderr.subarray(0, room).toString("utf8") + note });
    if (f.length - 4 <= MAX_JSON_FRAME) return f;
  }
  const msg = `the plugin's output (${Buffer.byteLength(reply.stdout)} bytes) is larger than a reply may be`;
  return jsonFrame({ code: 1, stdout: errorJson(NEWEST_VERSION, ErrorCode.Internal, `patchcord server: ${msg}`), stderr: `patchcord: ${msg}\n` });
}

/** One call, run as an exec'd plugin runs it (`run`: tests give their own); never throws. */
export async function runCall(
  req: Request,
  stdin: Buffer,
  netnsPath: string | undefined,
  usage: (() => string) | undefined,
  run: (name: string, io: PluginIO) => Promise<number> = runNamedPlugin,
): Promise<Reply> {
  const name = pluginFor(req.plugin);
  // cli/main.ts prints this for a name it does not know.
  if (!name) return { code: 2, stdout: "", stderr: `patchcord: unknown plugin name ${JSON.stringify(req.plugin)}\n${usage ? usage() + "\n" : ""}` };
  const out: string[] = [];
  const err: string[] = [];
  const io: PluginIO = {
    env: req.env,
    readStdin: () => Promise.resolve(stdin),
    stdout: (t) => void out.push(asLine(t)),
    stderr: (t) => void err.push(asLine(t)),
  };
  try {
    const code = await callerNetns.run(netnsPath, () => run(name, io));
    return { code, stdout: out.join(""), stderr: err.join("") };
  } catch (e) {
    return internalError(req, stdin, e, err.join(""));
  }
}

/** The reply for a failure of the server's own around a call: the spec's error 999, no stack. */
function internalError(req: Request, stdin: Buffer, e: unknown, stderr = ""): Reply {
  const msg = `patchcord server: ${errorText(e)}`;
  return { code: 1, stdout: errorJson(cniVersionOf(stdin), ErrorCode.Internal, msg), stderr: stderr + `${req.plugin}: ${msg}\n` };
}

interface Lock {
  fd: number;
  path: string;
  dev: number;
  ino: number;
}

/** The lock beside the socket, or who holds it. A lock file removed meanwhile (by a server stopping) is taken again. */
function takeLock(path: string, socket: string): Lock | Busy {
  for (let attempt = 0; attempt < 5; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | O_CLOEXEC, 0o600);
    } catch (e) {
      throw new ServeError(`cannot open the lock ${path}: ${errorText(e)}`);
    }
    let keep = false;
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || st.uid !== 0) throw new ServeError(`${path} is not a regular file of root's: remove it`);
      if (!tryLockExclusive(fd)) {
        const buf = Buffer.alloc(32);
        const pid = buf.subarray(0, readSync(fd, buf, 0, 32, 0)).toString().trim();
        return { busy: `another patchcord server${/^\d+$/.test(pid) ? ` (pid ${pid})` : ""} serves ${socket} (it holds ${path})` };
      }
      let now: { dev: number; ino: number } | undefined;
      try {
        now = lstatSync(path);
      } catch {
        now = undefined;
      }
      if (!now || now.dev !== st.dev || now.ino !== st.ino) continue;
      ftruncateSync(fd, 0);
      writeSync(fd, `${process.pid}\n`, 0);
      keep = true;
      return { fd, path, dev: st.dev, ino: st.ino };
    } finally {
      if (!keep) closeSync(fd);
    }
  }
  throw new ServeError(`cannot take the lock ${path}: it keeps being replaced`);
}

function releaseLock(lock: Lock): void {
  try {
    const st = lstatSync(lock.path);
    // Still ours: removed while held, so that a server starting now opens a new file.
    if (st.dev === lock.dev && st.ino === lock.ino) unlinkSync(lock.path);
  } catch {
    // already gone
  }
  closeSync(lock.fd);
}

/** Whether something accepts connections on `socket` (a server that took no lock). */
function answers(bun: BunNet, socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(true), 1000); // listening but not accepting: not ours to replace
    bun.connect({ unix: socket, socket: { open: (s) => s.end(), data: () => undefined, error: () => undefined } }).then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(false);
      },
    );
  });
}

/**
 * Starts the server on `o.socket`. Resolves to a running server, or to Busy when another live
 * server holds the socket (then nothing was touched); rejects with ServeError when it cannot serve
 * at all (no FFI in this runtime, a directory it must not use, the socket path taken by something else).
 */
export async function startServer(o: ServerOptions): Promise<RunningServer | Busy> {
  const bun = (globalThis as { Bun?: BunNet }).Bun;
  if (!bun || !netlinkAvailable()) {
    throw new ServeError("the resident server needs the Bun build's system calls (SO_PEERCRED, setns, flock), which this runtime lacks (the Node fallback build, or PATCHCORD_FFI=0)");
  }
  if (typeof process.geteuid === "function" && process.geteuid() !== 0) throw new ServeError("the resident server must run as root (it joins its callers' network namespaces)");
  const socket = o.socket;
  if (!socket.startsWith("/")) throw new ServeError(`the socket path must be absolute, not ${JSON.stringify(socket)}`);
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) throw new ServeError(`the socket path is longer than ${MAX_SOCKET_PATH} bytes: ${socket}`);
  const log = o.log;
  const limits = {
    maxInFlight: o.maxInFlight ?? DEFAULTS.maxInFlight,
    maxConnections: o.maxConnections ?? DEFAULTS.maxConnections,
    stallTimeoutMs: o.stallTimeoutMs ?? DEFAULTS.stallTimeoutMs,
    shutdownGraceMs: o.shutdownGraceMs ?? DEFAULTS.shutdownGraceMs,
  };
  const own = statSync("/proc/thread-self/ns/net");
  const scheduler = new Scheduler(limits.maxInFlight, () => settle());
  const conns = new Set<Conn>();
  let stopping: Promise<void> | undefined;
  let settledNow: (() => void) | undefined;

  const changed = prepareSocketDir(dirname(socket));
  if (changed) log(changed);
  const lock = takeLock(socket + ".lock", socket);
  if ("busy" in lock) return lock;

  let listener: BunListener;
  let socketId: { dev: number; ino: number };
  try {
    let stale: { isDirectory(): boolean; isSocket(): boolean } | undefined;
    try {
      stale = lstatSync(socket);
    } catch {
      stale = undefined;
    }
    if (stale) {
      if (stale.isDirectory()) throw new ServeError(`${socket} is a directory`);
      if (stale.isSocket() && (await answers(bun, socket))) {
        releaseLock(lock);
        return { busy: `a server that holds no lock answers on ${socket}` };
      }
      // The lock was free: whatever is there is left over from a server that died (or not a socket at all).
      unlinkSync(socket);
      log(`replaced the stale ${socket} (left by a server that did not stop cleanly)`);
    }
    if (!sourceSet) {
      setHostNetnsSource(currentCallerNetns);
      sourceSet = true;
    }
    // Required here, under Bun only: the pool finds its worker through import.meta, which the
    // CommonJS that jest runs cannot parse.
    pool ??= (require("./netlink-pool") as { netlinkPool: typeof netlinkPool }).netlinkPool(4, log);
    pool.watch(() => conns.size);
    setSlowOpRunner(pool.runner);
    const previous = process.umask(0o177);
    try {
      listener = bun.listen({ unix: socket, socket: handlers() });
    } catch (e) {
      throw new ServeError(`cannot listen on ${socket}: ${errorText(e)}`);
    } finally {
      process.umask(previous);
    }
    chmodSync(socket, 0o600);
    socketId = lstatSync(socket);
  } catch (e) {
    releaseLock(lock);
    throw e;
  }

  log(`serving CNI calls on ${socket} (pid ${process.pid}, patchcord ${PATCHCORD_VERSION}, ${limits.maxInFlight} at a time)`);

  function handlers() {
    return {
      open: (s: BunSocket) => accept(s),
      data: (s: BunSocket, d: Uint8Array) => received(s.data, d),
      drain: (s: BunSocket) => {
        const c = s.data;
        if (c && c.phase !== "closed") {
          if (c.phase === "replying") arm(c);
          flush(c);
        }
      },
      close: (s: BunSocket) => {
        if (s.data) closed(s.data, "closed");
      },
      error: (s: BunSocket, e: Error) => {
        if (s.data) closed(s.data, errorText(e));
      },
    };
  }

  function accept(s: BunSocket): void {
    const c: Conn = { socket: s, pid: 0, phase: "request", reader: new FrameReader(), spoke: false, stdin: [], stdinSize: 0, out: [], endWhenSent: false };
    s.data = c;
    conns.add(c);
    if (conns.size > limits.maxConnections) {
      log(`more than ${limits.maxConnections} connections: one closed before its hello (its shim runs the plugin itself)`);
      return shut(c);
    }
    let cred: { pid: number; uid: number };
    try {
      cred = peerCredentials(s.fd);
    } catch (e) {
      log(`closed a connection whose caller is unknown: ${errorText(e)}`);
      return shut(c);
    }
    c.pid = cred.pid;
    if (cred.uid !== 0) return refuse(c, `uid ${cred.uid} is not root`);
    if (cred.pid <= 0) return refuse(c, "its process is not visible from the server (another PID namespace)");
    try {
      // Opened now, while the caller waits for its hello: a recycled pid cannot redirect the call later.
      const fd = openSync(`/proc/${cred.pid}/ns/net`, constants.O_RDONLY | O_CLOEXEC);
      const st = fstatSync(fd);
      if (st.dev === own.dev && st.ino === own.ino) closeSync(fd);
      else {
        c.netnsFd = fd;
        c.netnsPath = `/proc/self/fd/${fd}`;
      }
    } catch (e) {
      return refuse(c, `its network namespace cannot be opened: ${errorText(e)}`);
    }
    const hello: Hello = { protocol: PROTOCOL, version: PATCHCORD_VERSION };
    send(c, jsonFrame(hello));
    arm(c);
  }

  function refuse(c: Conn, why: string): void {
    log(`refused a caller (pid ${c.pid}): ${why}`);
    const hello: Hello = { protocol: PROTOCOL, version: PATCHCORD_VERSION, refused: why };
    c.phase = "replying";
    send(c, jsonFrame(hello), true);
  }

  /** Stall timer: a client that stops sending (or stops reading its reply) is dropped. */
  function arm(c: Conn): void {
    if (c.timer) clearTimeout(c.timer);
    c.timer = setTimeout(() => drop(c, `nothing for ${limits.stallTimeoutMs / 1000} s`), limits.stallTimeoutMs);
  }

  function disarm(c: Conn): void {
    if (c.timer) clearTimeout(c.timer);
    c.timer = undefined;
  }

  function received(c: Conn | undefined, d: Uint8Array): void {
    if (!c || c.phase === "closed") return;
    c.spoke = true;
    if (c.phase === "running" || c.phase === "replying") return; // nothing is due after the end of stdin
    c.reader.push(d);
    if (c.phase === "request" || c.phase === "stdin") arm(c);
    advance(c);
  }

  /** Takes the frames that have arrived, as far as the connection's phase allows. */
  function advance(c: Conn): void {
    try {
      if (c.phase === "request") {
        const body = c.reader.next(MAX_JSON_FRAME);
        if (!body) return;
        const req = parseRequest(body);
        if (typeof req === "string") return drop(c, req);
        c.request = req;
        c.phase = "waiting";
        disarm(c);
        c.socket.pause(); // its stdin stays in the kernel until its turn
        c.ticket = scheduler.submit(attachmentKey(req.env), () => serve(c));
        return;
      }
      while (c.phase === "stdin") {
        const body = c.reader.next(STDIN_CHUNK);
        if (!body) return;
        if (body.length === 0) {
          c.phase = "running";
          disarm(c);
          c.socket.pause();
          c.stdinDone?.("complete");
          return;
        }
        c.stdinSize += body.length;
        if (c.stdinSize > MAX_STDIN) return tooLarge(c);
        c.stdin.push(body);
      }
    } catch (e) {
      drop(c, e instanceof FrameError ? e.message : `server error: ${errorText(e)}`);
    }
  }

  /** A stdin over MAX_STDIN: answered with the error the shim shows, nothing run. */
  function tooLarge(c: Conn): void {
    const msg = `error reading network config from stdin: more than ${MAX_STDIN} bytes`;
    log(`refused a call from pid ${c.pid}: its stdin is more than ${MAX_STDIN} bytes`);
    const version = cniVersionOf(Buffer.concat(c.stdin.slice(0, 2)));
    c.stdin = [];
    const done = c.stdinDone;
    c.phase = "replying";
    c.socket.pause();
    arm(c);
    send(c, replyFrame({ code: 1, stdout: errorJson(version, ErrorCode.IoFailure, msg), stderr: `${c.request!.plugin}: ${msg}\n` }), true);
    done?.("abandoned");
  }

  /** The job the scheduler runs: the connection's stdin, then the call, then its reply. */
  async function serve(c: Conn): Promise<void> {
    if (c.phase !== "waiting") return;
    c.phase = "stdin";
    arm(c);
    c.socket.resume();
    const end = await new Promise<StdinEnd>((resolve) => {
      c.stdinDone = resolve;
      advance(c); // what arrived with the request
    });
    c.stdinDone = undefined;
    if (end !== "complete") return;
    const stdin = Buffer.concat(c.stdin, c.stdinSize);
    c.stdin = [];
    const req = c.request!;
    const started = performance.now();
    let reply: Reply;
    try {
      reply = await runCall(req, stdin, c.netnsPath, o.usage);
    } catch (e) {
      reply = internalError(req, stdin, e);
    } finally {
      try {
        closeNetns(c);
      } catch {
        // the fd is gone either way
      }
    }
    if (o.logRequests) {
      const e = req.env;
      log(`${req.plugin} ${e.CNI_COMMAND ?? "-"} ${e.CNI_CONTAINERID || "-"} ${e.CNI_IFNAME || "-"}: ${reply.code} (${Math.round(performance.now() - started)} ms)`);
    }
    if ((c.phase as Phase) === "closed") {
      log(`pid ${c.pid} went away while its ${req.plugin} ${req.env.CNI_COMMAND ?? ""} ran: its reply (code ${reply.code}) is lost`);
      return;
    }
    c.phase = "replying";
    arm(c);
    let frame: Uint8Array;
    try {
      frame = replyFrame(reply);
    } catch (e) {
      frame = replyFrame(internalError(req, stdin, e));
    }
    send(c, frame, true);
  }

  function send(c: Conn, bytes: Uint8Array, end = false): void {
    c.out.push(bytes);
    if (end) c.endWhenSent = true;
    flush(c);
  }

  /** Writes what the kernel takes; the rest waits for `drain`. */
  function flush(c: Conn): void {
    while (c.out.length > 0 && c.phase !== "closed") {
      const head = c.out[0];
      const n = c.socket.write(head);
      if (n >= head.length) c.out.shift();
      else {
        if (n > 0) c.out[0] = head.subarray(n);
        return;
      }
    }
    if (c.out.length === 0 && c.endWhenSent && c.phase !== "closed") {
      c.socket.end();
      forget(c);
    }
  }

  function drop(c: Conn, why: string): void {
    if (c.phase === "closed") return;
    log(`dropped a connection from pid ${c.pid}: ${why}; nothing ran`);
    shut(c);
  }

  /** Closes at once, whatever remains to be sent. */
  function shut(c: Conn): void {
    if (c.phase === "closed") return;
    forget(c);
    try {
      c.socket.terminate();
    } catch {
      // already closed
    }
  }

  /** The client closed (or the connection failed). */
  function closed(c: Conn, why: string): void {
    if (c.phase === "closed") return;
    if ((c.phase === "request" && c.spoke) || c.phase === "waiting" || c.phase === "stdin") {
      log(`pid ${c.pid} closed its connection before the end of its request (${why}); nothing ran`);
    } else if (c.phase === "replying" && c.request && c.out.length > 0) {
      log(`pid ${c.pid} closed its connection before it had read its reply (${why})`);
    }
    forget(c);
  }

  /** Ends the server's part in a connection (idempotent); a running call finishes on its own. */
  function forget(c: Conn): void {
    const was = c.phase;
    if (was === "closed") return;
    c.phase = "closed";
    disarm(c);
    c.out = [];
    c.stdin = [];
    if (was === "waiting") c.ticket?.cancel();
    if (was === "stdin") c.stdinDone?.("abandoned");
    if (was !== "running") closeNetns(c);
    c.ticket = undefined;
    conns.delete(c);
    settle();
  }

  function closeNetns(c: Conn): void {
    if (c.netnsFd === undefined) return;
    closeSync(c.netnsFd);
    c.netnsFd = undefined;
    c.netnsPath = undefined;
  }

  function settle(): void {
    if (settledNow && conns.size === 0 && scheduler.running === 0) settledNow();
  }

  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      listener.stop(false);
      if (conns.size > 0 || scheduler.running > 0) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((resolve) => {
          settledNow = resolve;
          timer = setTimeout(resolve, limits.shutdownGraceMs);
          settle();
        });
        clearTimeout(timer);
        settledNow = undefined;
        if (conns.size > 0 || scheduler.running > 0) log(`stopping with ${conns.size} connection(s) still open after ${limits.shutdownGraceMs / 1000} s`);
        for (const c of [...conns]) shut(c);
      }
      try {
        const st = lstatSync(socket);
        if (st.dev === socketId.dev && st.ino === socketId.ino) unlinkSync(socket);
      } catch {
        // Bun removes it when the listener stops
      }
      releaseLock(lock);
      setSlowOpRunner(undefined);
      pool?.stop();
      pool = undefined;
    })());

  return { socket, stop };
}
