/**
 * rtnetlink messages as bytes: the header, the fixed structs and the type-length-value attributes
 * (see linux/netlink.h, linux/rtnetlink.h). Pure code: building and parsing only, no sockets.
 */

export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  NEWADDR: 20,
  DELADDR: 21,
  GETADDR: 22,
  NEWROUTE: 24,
  DELROUTE: 25,
  GETROUTE: 26,
} as const;

export const NLM_F = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  DUMP: 0x300,
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
  /** In an error message: extended-ack attributes follow. */
  ACK_TLVS: 0x200,
} as const;

export const AF = { UNSPEC: 0, INET: 2, INET6: 10 } as const;

const align4 = (n: number): number => (n + 3) & ~3;

/** Appends one netlink message; nested attributes are opened and closed around their children. */
export class MessageWriter {
  private buf = new Uint8Array(512);
  private view = new DataView(this.buf.buffer);
  private len = 0;
  private readonly nests: number[] = [];

  constructor(type: number, flags: number, seq: number) {
    this.len = 16;
    this.view.setUint16(4, type, true);
    this.view.setUint16(6, flags, true);
    this.view.setUint32(8, seq, true);
  }

  private reserve(n: number): number {
    const at = this.len;
    const need = align4(at + n);
    if (need > this.buf.length) {
      const bigger = new Uint8Array(Math.max(need, this.buf.length * 2));
      bigger.set(this.buf);
      this.buf = bigger;
      this.view = new DataView(bigger.buffer);
    }
    this.len = need;
    return at;
  }

  u8(v: number): this {
    this.view.setUint8(this.reserve(1), v);
    return this;
  }

  /** Raw bytes of a fixed struct (already laid out by the caller), padded to 4. */
  bytes(data: Uint8Array): this {
    this.buf.set(data, this.reserve(data.length));
    return this;
  }

  private attrHeader(type: number, payload: number): number {
    const at = this.reserve(4 + payload);
    this.view.setUint16(at, 4 + payload, true);
    this.view.setUint16(at + 2, type, true);
    return at + 4;
  }

  attrBytes(type: number, data: Uint8Array): this {
    this.buf.set(data, this.attrHeader(type, data.length));
    return this;
  }

  attrU8(type: number, v: number): this {
    this.view.setUint8(this.attrHeader(type, 1), v);
    return this;
  }

  attrU16(type: number, v: number): this {
    this.view.setUint16(this.attrHeader(type, 2), v, true);
    return this;
  }

  attrU32(type: number, v: number): this {
    this.view.setUint32(this.attrHeader(type, 4), v >>> 0, true);
    return this;
  }

  /** A NUL-terminated string, as the kernel expects for names and kinds. */
  attrString(type: number, s: string): this {
    const data = new TextEncoder().encode(s + "\0");
    return this.attrBytes(type, data);
  }

  begin(type: number): this {
    this.nests.push(this.attrHeader(type, 0) - 4);
    return this;
  }

  end(): this {
    const at = this.nests.pop();
    if (at === undefined) throw new Error("netlink: end() without begin()");
    this.view.setUint16(at, this.len - at, true);
    return this;
  }

  finish(): Uint8Array {
    if (this.nests.length) throw new Error("netlink: unclosed nested attribute");
    this.view.setUint32(0, this.len, true);
    return this.buf.slice(0, this.len);
  }
}

/** struct ifinfomsg (16 bytes). */
export function ifinfomsg(o: { family?: number; index?: number; flags?: number; change?: number } = {}): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint8(0, o.family ?? AF.UNSPEC);
  v.setInt32(4, o.index ?? 0, true);
  v.setUint32(8, o.flags ?? 0, true);
  v.setUint32(12, o.change ?? 0, true);
  return b;
}

/** struct ifaddrmsg (8 bytes). */
export function ifaddrmsg(o: { family: number; prefixlen: number; flags?: number; scope?: number; index: number }): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint8(0, o.family);
  v.setUint8(1, o.prefixlen);
  v.setUint8(2, (o.flags ?? 0) & 0xff);
  v.setUint8(3, o.scope ?? 0);
  v.setUint32(4, o.index, true);
  return b;
}

/** struct rtmsg (12 bytes). */
export function rtmsg(o: { family: number; dstLen: number; table: number; protocol: number; scope: number; type: number }): Uint8Array {
  const b = new Uint8Array(12);
  b[0] = o.family;
  b[1] = o.dstLen;
  b[4] = o.table;
  b[5] = o.protocol;
  b[6] = o.scope;
  b[7] = o.type;
  return b;
}

export interface Message {
  type: number;
  flags: number;
  seq: number;
  /** The payload after the 16-byte header. */
  body: DataView;
}

/** Splits a datagram into messages. */
export function parseMessages(data: Uint8Array): Message[] {
  const out: Message[] = [];
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let o = 0; o + 16 <= data.byteLength; ) {
    const len = v.getUint32(o, true);
    if (len < 16 || o + len > data.byteLength) break;
    out.push({ type: v.getUint16(o + 4, true), flags: v.getUint16(o + 6, true), seq: v.getUint32(o + 8, true), body: new DataView(data.buffer, data.byteOffset + o + 16, len - 16) });
    o += align4(len);
  }
  return out;
}

/** Attributes from `start` to the end of `v`: type (nested flag masked off) to payload. */
export function parseAttrs(v: DataView, start: number): Map<number, DataView> {
  const attrs = new Map<number, DataView>();
  for (let o = start; o + 4 <= v.byteLength; ) {
    const len = v.getUint16(o, true);
    if (len < 4 || o + len > v.byteLength) break;
    attrs.set(v.getUint16(o + 2, true) & 0x3fff, new DataView(v.buffer, v.byteOffset + o + 4, len - 4));
    o += align4(len);
  }
  return attrs;
}

export const attrString = (v: DataView | undefined): string | undefined => {
  if (!v) return undefined;
  const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  const nul = bytes.indexOf(0);
  return new TextDecoder().decode(nul < 0 ? bytes : bytes.subarray(0, nul));
};

export const attrU32 = (v: DataView | undefined): number | undefined => (v && v.byteLength >= 4 ? v.getUint32(0, true) : undefined);
export const attrU16 = (v: DataView | undefined): number | undefined => (v && v.byteLength >= 2 ? v.getUint16(0, true) : undefined);
export const attrU8 = (v: DataView | undefined): number | undefined => (v && v.byteLength >= 1 ? v.getUint8(0) : undefined);

/** An error message's errno (0 is an ACK) and the kernel's extended-ack text, if any. */
export function parseError(m: Message): { errno: number; text?: string } {
  const errno = Math.abs(m.body.getInt32(0, true));
  if (!(m.flags & NLM_F.ACK_TLVS)) return { errno };
  // With NETLINK_CAP_ACK the original request is echoed as its header only (16 bytes).
  const tlvs = parseAttrs(m.body, 4 + 16);
  return { errno, text: attrString(tlvs.get(1)) };
}
