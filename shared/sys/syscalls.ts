/**
 * System calls through Bun's FFI to libc's `syscall()`: one generic symbol (plus errno's location),
 * because Bun compiles a trampoline per symbol at load time (about 0.4 ms each). The netlink
 * backend and the file functions in ./fs.ts are built on it. Under Node (jest), on another CPU
 * architecture (the numbers are x86-64's) or with PATCHCORD_FFI=0 there is none and callers use
 * `ip` and node:fs instead.
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
  statfs: 137,
  getdents64: 217,
  openat: 257,
  mkdirat: 258,
  newfstatat: 262,
  unlinkat: 263,
  renameat: 264,
  linkat: 265,
  setns: 308,
} as const;
const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0x80000;
const NETLINK_ROUTE = 0;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
export const CLONE_NEWNET = 0x40000000;

type Syscall = (...args: (number | bigint)[]) => bigint | number;

export interface Ffi {
  syscall: Syscall;
  ptr: (view: ArrayBufferView) => number;
  errno: () => number;
}

let ffi: Ffi | null | undefined;

function load(): Ffi | null {
  const bun = (globalThis as { Bun?: unknown }).Bun;
  if (!bun || process.arch !== "x64" || process.env.PATCHCORD_FFI === "0") return null;
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
    return { syscall: libc.symbols.syscall as Syscall, ptr: mod.ptr, errno: () => mod.read.i32(errnoAt, 0) };
  } catch {
    return null;
  }
}

/** The FFI, or null when this runtime has none. */
export function ffiOrNull(): Ffi | null {
  if (ffi === undefined) ffi = load();
  return ffi;
}

/** Whether in-process system calls (netlink, file functions) are available in this runtime. */
export const netlinkAvailable = (): boolean => ffiOrNull() !== null;

export function sys(): Ffi {
  const f = ffiOrNull();
  if (!f) throw new Error("FFI is not available in this runtime");
  return f;
}

/** An errno from a failed system call, with the call's name for the message. */
export class SyscallError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call}: ${errnoText(errno)}`);
  }
}

let sink: unknown;
/** Keeps buffers whose addresses went to a system call reachable until it has returned. */
export function keepAlive(x: unknown): void {
  sink = x;
}

/** A syscall's result, or a SyscallError carrying errno. */
export function check(call: string, r: bigint | number): number {
  const n = Number(r);
  if (n < 0) throw new SyscallError(call, sys().errno());
  return n;
}

/** A NETLINK_ROUTE socket in the calling thread's current network namespace. */
export function openRouteSocket(): number {
  const s = sys();
  const fd = check("socket", s.syscall(SYS.socket, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE, 0, 0, 0, 0));
  const one = new Int32Array([1]);
  // Errors echo only the request's header, followed by the kernel's text for the failure.
  s.syscall(SYS.setsockopt, fd, SOL_NETLINK, NETLINK_CAP_ACK, s.ptr(one), 4, 0, 0);
  s.syscall(SYS.setsockopt, fd, SOL_NETLINK, NETLINK_EXT_ACK, s.ptr(one), 4, 0, 0);
  keepAlive(one);
  return fd;
}

export function closeFd(fd: number): void {
  sys().syscall(SYS.close, fd, 0, 0, 0, 0, 0, 0);
}

export function send(fd: number, data: Uint8Array): void {
  const s = sys();
  const r = s.syscall(SYS.sendto, fd, s.ptr(data), data.byteLength, 0, 0, 0, 0);
  keepAlive(data);
  check("sendto", r);
}

/** One datagram (blocking). */
export function recv(fd: number, buf: Uint8Array): number {
  const s = sys();
  const r = s.syscall(SYS.recvfrom, fd, s.ptr(buf), buf.byteLength, 0, 0, 0, 0);
  keepAlive(buf);
  return check("recvfrom", r);
}

/** Moves the calling thread into the network namespace open at `fd`. */
export function setns(fd: number): void {
  const s = sys();
  check("setns", s.syscall(SYS.setns, fd, CLONE_NEWNET, 0, 0, 0, 0, 0));
}

const ERRNO_TEXT: Record<number, string> = {
  1: "Operation not permitted",
  2: "No such file or directory",
  3: "No such process",
  4: "Interrupted system call",
  9: "Bad file descriptor",
  11: "Resource temporarily unavailable",
  12: "Cannot allocate memory",
  13: "Permission denied",
  16: "Device or resource busy",
  17: "File exists",
  18: "Invalid cross-device link",
  19: "No such device",
  20: "Not a directory",
  21: "Is a directory",
  22: "Invalid argument",
  28: "No space left on device",
  30: "Read-only file system",
  34: "Numerical result out of range",
  39: "Directory not empty",
  67: "Link has been severed",
  93: "Protocol not supported",
  95: "Operation not supported",
  97: "Address family not supported by protocol",
  99: "Cannot assign requested address",
  101: "Network is unreachable",
  105: "No buffer space available",
  113: "No route to host",
};

export const errnoText = (errno: number): string => ERRNO_TEXT[errno] ?? `errno ${errno}`;

/** Symbolic names, as node:fs puts them in `error.code`. */
const ERRNO_CODE: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 9: "EBADF", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES", 16: "EBUSY",
  17: "EEXIST", 18: "EXDEV", 19: "ENODEV", 20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL", 28: "ENOSPC", 30: "EROFS", 39: "ENOTEMPTY",
};

export const errnoCode = (errno: number): string => ERRNO_CODE[errno] ?? `E${errno}`;
