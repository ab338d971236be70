/**
 * FNV-1a, 64 bits, as hex: a stable short name for (container id, ifname) without loading
 * node:crypto (about 10 ms of start-up in a compiled binary). Not for security.
 * Performance: computed on two 32-bit halves in plain numbers; BigInt arithmetic per byte cost a
 * compiled binary (interpreted, JIT off) a few tenths of a millisecond per name.
 */
export function fnv1a64(text: string): string {
  // offset basis 0xcbf29ce484222325; prime 0x100000001b3 = 2^40 + 0x1b3
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  const bytes = new TextEncoder().encode(text); // UTF-8, as Buffer.from(text) gives it
  for (let i = 0; i < bytes.length; i++) {
    lo = (lo ^ bytes[i]) >>> 0;
    // (hi:lo) * 0x1b3 + (lo << 40), mod 2^64; every intermediate stays below 2^53
    const loProduct = lo * 0x1b3;
    hi = (hi * 0x1b3 + Math.floor(loProduct / 0x100000000) + lo * 0x100) >>> 0;
    lo = loProduct >>> 0;
  }
  return hex32(hi) + hex32(lo);
}

const hex32 = (n: number): string => {
  const s = n.toString(16);
  return "00000000".slice(s.length) + s;
};

const HEX = "0123456789abcdef";

/** Bytes as lowercase hex, two digits each, with `separator` between them. */
export function hexBytes(bytes: ArrayLike<number>, separator = ""): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] & 0xff;
    s += (i ? separator : "") + HEX[b >> 4] + HEX[b & 15];
  }
  return s;
}

/** `n` random bytes from Math.random: enough for MACs and temporary names, which need no secrecy. */
export function randomBytesWeak(n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(Math.floor(Math.random() * 256));
  return out;
}
