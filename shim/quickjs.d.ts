/**
 * The parts of QuickJS (2021-03-27) the shim uses: its std and os modules, the scriptArgs global,
 * and our own native module (shim/native/socket.c). Errors are negative errno values, as QuickJS
 * returns them.
 */
declare module "std" {
  export function exit(code: number): never;
  export function getenviron(): Record<string, string>;
  export function setenv(name: string, value: string): void;
  export function strerror(errno: number): string;
}

declare module "os" {
  export function read(fd: number, buffer: ArrayBuffer, offset: number, length: number): number;
  export function write(fd: number, buffer: ArrayBuffer, offset: number, length: number): number;
  export function close(fd: number): number;
  /** [target, 0] or ["", errno]. */
  export function readlink(path: string): [string, number];
}

declare module "patchcord_native" {
  /** A connected non-blocking unix stream socket (never fd 0-2), or -errno. */
  export function connectUnix(path: string, timeoutMs: number): number;
  /** The revents, 0 on timeout, or -errno. A negative timeout waits forever. */
  export function poll(fd: number, events: number, timeoutMs: number): number;
  /** Bytes sent (MSG_NOSIGNAL) or -errno. */
  export function send(fd: number, buffer: ArrayBuffer, offset: number, length: number): number;
  /** Returns only on failure: -errno. A null env passes the process's environment as it is. */
  export function execve(path: string, argv: string[], env: string[] | null): number;
  export function monotonicMs(): number;
  export const EAGAIN: number;
  export const EINTR: number;
  export const POLLIN: number;
  export const POLLOUT: number;
}

/** The command line (argv[0] included), set by QuickJS's js_std_add_helpers. */
declare const scriptArgs: string[];
