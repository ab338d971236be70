import { errnoCode, errnoText, SYS, syscall as sc, SyscallError } from "./syscalls";

/**
 * The file functions the plugins use, with node:fs's names, arguments and errors (`error.code`
 * such as ENOENT or EEXIST), made of plain system calls. A compiled Bun binary pays about 4 ms to
 * load node:fs itself; a plugin's whole budget after start-up is a few milliseconds.
 * Everything here is synchronous and runs on the calling thread (so a sysctl written while the
 * thread is in a pod's namespace lands in that namespace).
 */
export interface MiniStats {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  isFile(): boolean;
  isDirectory(): boolean;
}

export interface MiniFs {
  readFileSync(path: string | number): Buffer;
  readFileSync(path: string | number, encoding: "utf8"): string;
  writeFileSync(path: string, data: string): void;
  appendFileSync(path: string, data: string, options?: { mode?: number }): void;
  openSync(path: string, flags: "r" | "wx", mode?: number): number;
  writeSync(fd: number, data: string): number;
  closeSync(fd: number): void;
  linkSync(existing: string, newPath: string): void;
  unlinkSync(path: string): void;
  renameSync(from: string, to: string): void;
  /**
   * Not node:fs: atomically swaps two existing names (renameat2 RENAME_EXCHANGE); false, with
   * nothing changed, where the kernel or filesystem cannot (or `to` does not exist yet).
   */
  exchangeSync?(a: string, b: string): boolean;
  mkdirSync(path: string, options?: { recursive?: boolean; mode?: number }): void;
  readdirSync(path: string): string[];
  statSync(path: string): MiniStats;
  statfsSync(path: string): { type: number };
  accessSync(path: string, mode?: number): void;
  constants: { X_OK: number };
}

const AT_FDCWD = -100;
const O = { RDONLY: 0, WRONLY: 1, CREAT: 0o100, EXCL: 0o200, TRUNC: 0o1000, APPEND: 0o2000, DIRECTORY: 0o200000, CLOEXEC: 0o2000000 } as const;
const S_IFMT = 0o170000;
const RENAME_EXCHANGE = 2;

/** A node-style error: `EEXIST: file exists, link 'a' -> 'b'`. */
function fsError(e: unknown, call: string, path: string, dest?: string): Error {
  if (!(e instanceof SyscallError)) return e as Error;
  const code = errnoCode(e.errno);
  const err = new Error(`${code}: ${errnoText(e.errno).toLowerCase()}, ${call} '${path}'${dest ? ` -> '${dest}'` : ""}`) as NodeJS.ErrnoException;
  err.code = code;
  err.errno = -e.errno;
  err.syscall = call;
  err.path = path;
  return err;
}

// One encoder for every path (host-local's scan of its store makes thousands of calls).
let encoder: InstanceType<typeof TextEncoder> | undefined;
const cString = (s: string): Uint8Array => (encoder ??= new TextEncoder()).encode(s + "\0");

function call<T>(name: string, path: string, fn: () => T, dest?: string): T {
  try {
    return fn();
  } catch (e) {
    throw fsError(e, name, path, dest);
  }
}

const open = (path: string, flags: number, mode = 0o666): number =>
  call("open", path, () => sc("open", SYS.openat, AT_FDCWD, cString(path), flags | O.CLOEXEC, mode));

function writeAll(fd: number, bytes: Uint8Array): number {
  let done = 0;
  while (done < bytes.length) done += sc("write", SYS.write, fd, bytes.subarray(done), bytes.length - done);
  return done;
}

/** Opens `path` for writing (created if missing; `how` is O_TRUNC or O_APPEND), writes `data`, closes. */
function writeFile(path: string, how: number, mode: number, data: string): void {
  const fd = open(path, O.WRONLY | O.CREAT | how, mode);
  try {
    call("write", path, () => writeAll(fd, new TextEncoder().encode(data)));
  } finally {
    sc("close", SYS.close, fd);
  }
}

/**
 * One read buffer for every file. A fresh 64 KiB per read (two per file, the second to see the
 * end) made host-local's scan of its store allocate 128 KiB per reservation: with 2000 of them an
 * ADD took 135 ms instead of 102 (194 instead of 124 with the JIT off).
 */
let readBuffer: Buffer | undefined;

function readAll(fd: number): Buffer {
  const buf = (readBuffer ??= Buffer.allocUnsafe(64 * 1024));
  const chunks: Buffer[] = [];
  let used = 0;
  for (;;) {
    if (used === buf.length) {
      chunks.push(Buffer.concat([buf])); // full: keep a copy and read on from its start
      used = 0;
    }
    const n = sc("read", SYS.read, fd, buf.subarray(used), buf.length - used);
    if (n === 0) {
      chunks.push(buf.subarray(0, used));
      return Buffer.concat(chunks); // a copy, as the buffer is read into again
    }
    used += n;
  }
}

function stat(path: string): MiniStats {
  const buf = new Uint8Array(144);
  call("stat", path, () => sc("stat", SYS.newfstatat, AT_FDCWD, cString(path), buf, 0));
  const v = new DataView(buf.buffer);
  const mode = v.getUint32(24, true);
  const mtimeMs = Number(v.getBigInt64(88, true)) * 1000 + Number(v.getBigInt64(96, true)) / 1e6;
  return {
    dev: Number(v.getBigUint64(0, true)),
    ino: Number(v.getBigUint64(8, true)),
    size: Number(v.getBigInt64(48, true)),
    mtimeMs,
    isFile: () => (mode & S_IFMT) === 0o100000,
    isDirectory: () => (mode & S_IFMT) === 0o040000,
  };
}

function readdir(path: string): string[] {
  const fd = open(path, O.RDONLY | O.DIRECTORY);
  const names: string[] = [];
  try {
    const buf = new Uint8Array(32 * 1024);
    const v = new DataView(buf.buffer);
    for (;;) {
      const n = call("scandir", path, () => sc("getdents64", SYS.getdents64, fd, buf, buf.length));
      if (n === 0) return names;
      // struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name (NUL-terminated).
      for (let o = 0; o < n; ) {
        const reclen = v.getUint16(o + 16, true);
        const end = buf.indexOf(0, o + 19);
        const name = new TextDecoder().decode(buf.subarray(o + 19, end));
        if (name !== "." && name !== "..") names.push(name);
        o += reclen;
      }
    }
  } finally {
    sc("close", SYS.close, fd);
  }
}

function mkdir(path: string, recursive: boolean, mode: number): void {
  const make = (p: string): void => {
    call("mkdir", p, () => sc("mkdir", SYS.mkdirat, AT_FDCWD, cString(p), mode));
  };
  if (!recursive) return make(path);
  const parts = path.split("/");
  for (let i = 1; i <= parts.length; i++) {
    const p = parts.slice(0, i).join("/");
    if (p === "") continue;
    try {
      make(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
  if (!stat(path).isDirectory()) throw fsError(new SyscallError("mkdir", 20), "mkdir", path);
}

export const syscallFs: MiniFs = {
  readFileSync: ((path: string | number, encoding?: "utf8") => {
    const fd = typeof path === "number" ? path : open(path, O.RDONLY);
    try {
      const data = call("read", String(path), () => readAll(fd));
      return encoding ? data.toString("utf8") : data;
    } finally {
      if (typeof path !== "number") sc("close", SYS.close, fd);
    }
  }) as MiniFs["readFileSync"],
  writeFileSync: (path, data) => writeFile(path, O.TRUNC, 0o666, data),
  appendFileSync: (path, data, options) => writeFile(path, O.APPEND, options?.mode ?? 0o666, data),
  openSync: (path, flags, mode = 0o666) => open(path, flags === "r" ? O.RDONLY : O.WRONLY | O.CREAT | O.EXCL, mode),
  writeSync: (fd, data) => writeAll(fd, new TextEncoder().encode(data)),
  closeSync(fd) {
    sc("close", SYS.close, fd);
  },
  linkSync(existing, newPath) {
    call("link", existing, () => sc("link", SYS.linkat, AT_FDCWD, cString(existing), AT_FDCWD, cString(newPath), 0), newPath);
  },
  unlinkSync(path) {
    call("unlink", path, () => sc("unlink", SYS.unlinkat, AT_FDCWD, cString(path), 0));
  },
  renameSync(from, to) {
    call("rename", from, () => sc("rename", SYS.renameat, AT_FDCWD, cString(from), AT_FDCWD, cString(to)), to);
  },
  exchangeSync(a, b) {
    try {
      sc("renameat2", SYS.renameat2, AT_FDCWD, cString(a), AT_FDCWD, cString(b), RENAME_EXCHANGE);
      return true;
    } catch {
      return false; // ENOENT (no `b` yet), EINVAL/ENOSYS (not supported here), ...
    }
  },
  mkdirSync: (path, options) => mkdir(path, options?.recursive ?? false, options?.mode ?? 0o777),
  readdirSync: readdir,
  statSync: stat,
  statfsSync(path) {
    const buf = new Uint8Array(120);
    call("statfs", path, () => sc("statfs", SYS.statfs, cString(path), buf));
    return { type: Number(new DataView(buf.buffer).getBigInt64(0, true)) };
  },
  accessSync(path, mode = 0) {
    call("access", path, () => sc("access", SYS.access, cString(path), mode));
  },
  constants: { X_OK: 1 },
};
