/**
 * The wire between the shim (shim/, compiled by QuickJS) and the resident server (server/): a
 * Unix stream socket carrying frames, each a 4-byte big-endian length and that many bytes.
 * Plain TypeScript without imports, so that both runtimes load it.
 *
 *   server -> shim  hello   JSON Hello, as soon as the connection is accepted (after the
 *                           server has checked the caller's credentials)
 *   shim -> server  request JSON Request
 *   shim -> server  stdin   raw bytes in frames of at most STDIN_CHUNK, ended by an empty frame
 *                           (the shim never holds a whole 10 MB config; the server caps the total)
 *   server -> shim  reply   JSON Reply
 *
 * Nothing is sent before the hello, so a shim that gets no usable hello (no socket, refused,
 * another protocol) has sent nothing and may run the plugin itself. Once it has begun sending the
 * request it never does: a reply that does not come is the spec's code 11 (try again later).
 */
export const PROTOCOL = 1;

/** Where `patchcord serve` listens, and where the shim looks, unless PATCHCORD_SOCKET says otherwise. */
export const DEFAULT_SOCKET = "/run/patchcord/cni.sock";
export const SOCKET_ENV = "PATCHCORD_SOCKET";

/** The largest JSON frame either side accepts (a request's environment, a reply's output). */
export const MAX_JSON_FRAME = 4 * 1024 * 1024;
/** The shim sends stdin in frames of at most this size. */
export const STDIN_CHUNK = 64 * 1024;
/** The largest stdin the server accepts in total. */
export const MAX_STDIN = 64 * 1024 * 1024;

export interface Hello {
  protocol: number;
  /** patchcord's version on the server's side. */
  version: string;
  /** Set when the server will not serve this caller (e.g. not root): the shim runs the plugin itself. */
  refused?: string;
}

export interface Request {
  protocol: number;
  /** The name the shim was invoked as (basename of argv[0]): the plugin to run. */
  plugin: string;
  /** The shim's whole environment (CNI_COMMAND, CNI_CONTAINERID, ..., PATH, PATCHCORD_TRACE). */
  env: Record<string, string>;
}

export interface Reply {
  /** The plugin's exit code. */
  code: number;
  stdout: string;
  stderr: string;
}

/** A frame header for `length` bytes. */
export function frameHeader(length: number): Uint8Array {
  const h = new Uint8Array(4);
  h[0] = (length >>> 24) & 0xff;
  h[1] = (length >>> 16) & 0xff;
  h[2] = (length >>> 8) & 0xff;
  h[3] = length & 0xff;
  return h;
}

/** The length a frame header announces. */
export const frameLength = (h: Uint8Array, at = 0): number => ((h[at] << 24) | (h[at + 1] << 16) | (h[at + 2] << 8) | h[at + 3]) >>> 0;

/** What the shim says it is; it is in the shim's executable, so the agent's uninstall knows it by it. */
export const SHIM_TAGLINE = "patchcord-shim: hands each CNI call to patchcord serve, or runs it itself";
