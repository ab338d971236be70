/**
 * System calls to libc's `syscall()`, one generic entry point. The netlink backend and the file
 * functions in ./fs.ts are built on it. It comes from the small Node-API addon beside the
 * executable (native/syscall.c, built by scripts/build-native.mjs), which loads in well under a
 * millisecond; failing that, from Bun's FFI (one `syscall` symbol plus errno's location: Bun
 * compiles a trampoline per symbol with TinyCC, about 5 ms per process on the development VM).
 * Under Node (jest), on another CPU architecture (the numbers are x86-64's) or with PATCHCORD_FFI=0
 * there is none and callers use `ip` and node:fs instead; PATCHCORD_FFI=bun skips the addon.
 */

export const SYS = {
  read: 0,
  write: 1,
  close: 3,
  access: 21,
  socket: 41,
  sendto: 44,
  recvfrom: 45,
  setsockopt: 54,
  getsockopt: 55,
  flock: 73,
  statfs: 137,
  getdents64: 217,
  openat: 257,
  mkdirat: 258,
  newfstatat: 262,
  unlinkat: 263,
  renameat: 264,
  linkat: 265,
  setns: 308,
  renameat2: 316,
} as const;
const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0x80000;
const NETLINK_ROUTE = 0;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const CLONE_NEWNET = 0x40000000;

/** One system call: its result, or -errno when it failed. Buffers go as their addresses. */
type RawSyscall = (nr: number, ...args: (number | ArrayBufferView)[]) => number;

let raw: RawSyscall | null | undefined;

/**
 * Bun's global object when patchcord may use what Bun offers beyond node: modules (the FFI, its
 * spawnSync); undefined under Node, or when PATCHCORD_FFI=0 asks for plain processes everywhere.
 */
export function bunFacilities<T = unknown>(): T | undefined {
  if (process.env.PATCHCORD_FFI === "0") return undefined;
  return (globalThis as { Bun?: T }).Bun;
}

/** The contract of native/syscall.c this code expects (its `abi` export). */
const ADDON_ABI = 1;
export const ADDON_NAME = "patchcord-syscall.node";

/** The addon beside the executable (the real file /proc/self/exe names), or null. */
function loadAddon(): RawSyscall | null {
  const exe = process.execPath;
  const mod = { exports: {} as { syscall?: RawSyscall; abi?: number } };
  try {
    process.dlopen(mod, exe.slice(0, exe.lastIndexOf("/") + 1) + ADDON_NAME);
  } catch {
    return null; // missing (e.g. a binary copied alone) or not loadable here
  }
  const { syscall, abi } = mod.exports;
  return abi === ADDON_ABI && typeof syscall === "function" ? syscall : null;
}

let sink: unknown;

function loadBunFfi(): RawSyscall | null {
  try {
    // A computed name keeps bundlers for Node from trying to resolve Bun's built-in module.
    const mod = require(["bun", "ffi"].join(":")) as {
      dlopen: (lib: string, spec: Record<string, { args: string[]; returns: string }>) => { symbols: Record<string, (...a: unknown[]) => unknown> };
      ptr: (view: ArrayBufferView) => number;
      read: { i32: (p: number, off: number) => number };
    };
    const libc = mod.dlopen("libc.so.6", {
      syscall: { args: ["i64", "i64", "i64", "i64", "i64", "i64", "i64"], returns: "i64" },
      __errno_location: { args: [], returns: "ptr" },
    });
    // The main thread's errno lives at a fixed address: look it up once. (Looking it up only on
    // the first failure would be cheaper, but loading a symbol may itself overwrite errno.)
    const errnoAt = libc.symbols.__errno_location() as number;
    const call = libc.symbols.syscall as (...a: number[]) => bigint | number;
    const { ptr } = mod;
    return (nr, ...args) => {
      const words = args.map((a) => (typeof a === "number" ? a : ptr(a)));
      while (words.length < 6) words.push(0);
      const r = Number(call(nr, ...words));
      // The buffers stay referenced until the call has returned (so the collector cannot move or
      // free them meanwhile).
      sink = args;
      return r < 0 ? -mod.read.i32(errnoAt, 0) : r;
    };
  } catch {
    return null;
  }
}

function load(): RawSyscall | null {
  if (!bunFacilities() || process.arch !== "x64") return null;
  return (process.env.PATCHCORD_FFI !== "bun" && loadAddon()) || loadBunFfi();
}

/** The system call entry point, or null when this runtime has none. */
function rawOrNull(): RawSyscall | null {
  if (raw === undefined) raw = load();
  return raw;
}

/** Whether in-process system calls (netlink, file functions) are available in this runtime. */
export const netlinkAvailable = (): boolean => rawOrNull() !== null;

/** An errno from a failed system call, with the call's name for the message. */
export class SyscallError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call}: ${errnoText(errno)}`);
  }
}

/**
 * One system call: buffers go as their addresses, and stay referenced until it has returned; a
 * failure throws a SyscallError naming `name`.
 */
export function syscall(name: string, nr: number, ...args: (number | ArrayBufferView)[]): number {
  const call = rawOrNull();
  if (!call) throw new Error("FFI is not available in this runtime");
  const r = call(nr, ...args);
  if (r < 0) throw new SyscallError(name, -r);
  return r;
}

/** A NETLINK_ROUTE socket in the calling thread's current network namespace. */
export function openRouteSocket(): number {
  const fd = syscall("socket", SYS.socket, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  const one = new Int32Array([1]);
  // Errors echo only the request's header, followed by the kernel's text for the failure. Both are
  // refinements: a kernel without them still answers, with plainer errors.
  for (const option of [NETLINK_CAP_ACK, NETLINK_EXT_ACK]) {
    try {
      syscall("setsockopt", SYS.setsockopt, fd, SOL_NETLINK, option, one, 4);
    } catch {
      // older kernel
    }
  }
  return fd;
}

export const closeFd = (fd: number): void => void syscall("close", SYS.close, fd);

export const send = (fd: number, data: Uint8Array): void => void syscall("sendto", SYS.sendto, fd, data, data.byteLength, 0, 0, 0);

/** One datagram (blocking). */
export const recv = (fd: number, buf: Uint8Array): number => syscall("recvfrom", SYS.recvfrom, fd, buf, buf.byteLength, 0, 0, 0);

/** Moves the calling thread into the network namespace open at `fd`. */
export const setns = (fd: number): void => void syscall("setns", SYS.setns, fd, CLONE_NEWNET);

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

/** Who is at the other end of a Unix socket, as the kernel recorded it at connect(). */
export function peerCredentials(fd: number): { pid: number; uid: number; gid: number } {
  const ucred = new Int32Array(3);
  const len = new Uint32Array([12]);
  syscall("getsockopt", SYS.getsockopt, fd, SOL_SOCKET, SO_PEERCRED, ucred, len);
  return { pid: ucred[0], uid: ucred[1] >>> 0, gid: ucred[2] >>> 0 };
}

const LOCK_EX = 2;
const LOCK_NB = 4;

/** Takes an exclusive lock on the open file `fd` without waiting; false when another holds it. */
export function tryLockExclusive(fd: number): boolean {
  try {
    syscall("flock", SYS.flock, fd, LOCK_EX | LOCK_NB);
    return true;
  } catch (e) {
    if (e instanceof SyscallError && e.errno === 11) return false;
    throw e;
  }
}

/** errno: its symbolic name (as node:fs puts it in `error.code`) and its text. */
const ERRNO: Record<number, [string, string]> = {
  1: ["EPERM", "Operation not permitted"],
  2: ["ENOENT", "No such file or directory"],
  3: ["ESRCH", "No such process"],
  4: ["EINTR", "Interrupted system call"],
  9: ["EBADF", "Bad file descriptor"],
  11: ["EAGAIN", "Resource temporarily unavailable"],
  12: ["ENOMEM", "Cannot allocate memory"],
  13: ["EACCES", "Permission denied"],
  16: ["EBUSY", "Device or resource busy"],
  17: ["EEXIST", "File exists"],
  18: ["EXDEV", "Invalid cross-device link"],
  19: ["ENODEV", "No such device"],
  20: ["ENOTDIR", "Not a directory"],
  21: ["EISDIR", "Is a directory"],
  22: ["EINVAL", "Invalid argument"],
  28: ["ENOSPC", "No space left on device"],
  30: ["EROFS", "Read-only file system"],
  34: ["ERANGE", "Numerical result out of range"],
  39: ["ENOTEMPTY", "Directory not empty"],
  67: ["ENOLINK", "Link has been severed"],
  93: ["EPROTONOSUPPORT", "Protocol not supported"],
  95: ["EOPNOTSUPP", "Operation not supported"],
  97: ["EAFNOSUPPORT", "Address family not supported by protocol"],
  99: ["EADDRNOTAVAIL", "Cannot assign requested address"],
  101: ["ENETUNREACH", "Network is unreachable"],
  104: ["ECONNRESET", "Connection reset by peer"],
  105: ["ENOBUFS", "No buffer space available"],
  111: ["ECONNREFUSED", "Connection refused"],
  113: ["EHOSTUNREACH", "No route to host"],
};

export const errnoText = (errno: number): string => ERRNO[errno]?.[1] ?? `errno ${errno}`;
export const errnoCode = (errno: number): string => ERRNO[errno]?.[0] ?? `E${errno}`;
