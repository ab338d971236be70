import { frameHeader, frameLength, PROTOCOL, Request } from "./protocol";

/** A frame that announces more bytes than its place in the exchange allows. */
export class FrameError extends Error {}

/**
 * Length-prefixed frames out of a byte stream that arrives in pieces of any size. Bytes are kept
 * until a whole frame is there; a frame's announced length is checked as soon as its header is,
 * so an oversized frame is refused before its body is buffered.
 */
export class FrameReader {
  private chunks: Uint8Array[] = [];
  /** Bytes of chunks[0] already consumed. */
  private head = 0;
  private size = 0;

  /** Bytes received and not yet returned as frames. */
  get buffered(): number {
    return this.size;
  }

  /** Appends received bytes (copied: the caller may reuse its buffer). */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk.slice());
    this.size += chunk.length;
  }

  /**
   * The next whole frame's body, or undefined until all of it has arrived. Throws FrameError when
   * the header announces more than `max` bytes. The body may share memory with the reader's own
   * copy of the input, never with the caller's buffers.
   */
  next(max: number): Uint8Array | undefined {
    if (this.size < 4) return undefined;
    const length = frameLength(this.peek(4));
    if (length > max) throw new FrameError(`a frame of ${length} bytes, more than ${max}`);
    if (this.size < 4 + length) return undefined;
    this.take(4);
    return this.take(length);
  }

  private peek(n: number): Uint8Array {
    const first = this.chunks[0];
    if (first.length - this.head >= n) return first.subarray(this.head, this.head + n);
    const out = new Uint8Array(n);
    let got = 0;
    for (let i = 0, at = this.head; got < n; i++, at = 0) {
      const c = this.chunks[i];
      const k = Math.min(n - got, c.length - at);
      out.set(c.subarray(at, at + k), got);
      got += k;
    }
    return out;
  }

  /** Removes and returns the first n buffered bytes (n <= size). */
  private take(n: number): Uint8Array {
    this.size -= n;
    const first = this.chunks[0];
    if (n === 0) return new Uint8Array(0);
    if (first.length - this.head >= n) {
      const out = first.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === first.length) this.drop();
      return out;
    }
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const c = this.chunks[0];
      const k = Math.min(n - got, c.length - this.head);
      out.set(c.subarray(this.head, this.head + k), got);
      got += k;
      this.head += k;
      if (this.head === c.length) this.drop();
    }
    return out;
  }

  private drop(): void {
    this.chunks.shift();
    this.head = 0;
  }
}

/** One frame: header and body. */
export function frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  out.set(frameHeader(body.length), 0);
  out.set(body, 4);
  return out;
}

/** A JSON value as one frame (UTF-8). */
export const jsonFrame = (value: unknown): Uint8Array => frame(Buffer.from(JSON.stringify(value), "utf8"));

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The request in a frame, or what is wrong with it (then nothing is run). */
export function parseRequest(body: Uint8Array): Request | string {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8"));
  } catch {
    return "the request is not JSON";
  }
  if (!isObject(raw)) return "the request is not a JSON object";
  if (raw.protocol !== PROTOCOL) return `the request speaks protocol ${JSON.stringify(raw.protocol)}, not ${PROTOCOL}`;
  if (typeof raw.plugin !== "string" || raw.plugin === "") return "the request names no plugin";
  if (!isObject(raw.env)) return "the request's env is not an object";
  for (const [k, v] of Object.entries(raw.env)) {
    if (typeof v !== "string") return `the request's env value of ${JSON.stringify(k.slice(0, 64))} is not a string`;
  }
  return { protocol: PROTOCOL, plugin: raw.plugin, env: raw.env as Record<string, string> };
}

/**
 * The attachment a call is about: the container and interface, as runtimes key them. Calls
 * without a container id (VERSION, GC, STATUS) are about no attachment.
 */
export const attachmentKey = (env: Record<string, string>): string | undefined =>
  env.CNI_CONTAINERID ? `${env.CNI_CONTAINERID}/${env.CNI_IFNAME ?? ""}` : undefined;
