/**
 * FNV-1a, 64 bits, as hex: a stable short name for (container id, ifname) without loading
 * node:crypto (about 10 ms of start-up in a compiled binary). Not for security.
 */
export function fnv1a64(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text, "utf8")) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, "0");
}

/** `n` random bytes from Math.random: enough for MACs and temporary names, which need no secrecy. */
export function randomBytesWeak(n: number): number[] {
  return Array.from({ length: n }, () => Math.floor(Math.random() * 256));
}
