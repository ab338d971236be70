/**
 * UTF-8 both ways, as Node's Buffer does it (QuickJS has no TextEncoder/TextDecoder): a lone
 * surrogate is encoded as U+FFFD, and an invalid or cut sequence decodes as U+FFFD.
 */

/** The UTF-8 encoding of `text`, with `reserve` spare bytes before it (for a frame header). */
export function utf8Encode(text: string, reserve = 0): Uint8Array {
  let size = reserve;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) size += 1;
    else if (c < 0x800) size += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      size += 4;
      i++;
    } else size += 3; // the BMP, and a lone surrogate's U+FFFD
  }
  const out = new Uint8Array(size);
  let o = reserve;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      out[o++] = c;
      continue;
    }
    if (c < 0x800) {
      out[o++] = 0xc0 | (c >> 6);
      out[o++] = 0x80 | (c & 0x3f);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && (d & 0xfc00) === 0xdc00) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        out[o++] = 0xf0 | (cp >> 18);
        out[o++] = 0x80 | ((cp >> 12) & 0x3f);
        out[o++] = 0x80 | ((cp >> 6) & 0x3f);
        out[o++] = 0x80 | (cp & 0x3f);
        i++;
        continue;
      }
      c = 0xfffd;
    }
    out[o++] = 0xe0 | (c >> 12);
    out[o++] = 0x80 | ((c >> 6) & 0x3f);
    out[o++] = 0x80 | (c & 0x3f);
  }
  return out;
}

/** The text of bytes[start, end) read as UTF-8 (WHATWG decoding: one U+FFFD per bad subsequence). */
export function utf8Decode(bytes: Uint8Array, start = 0, end = bytes.length): string {
  const parts: string[] = [];
  let units: number[] = [];
  const push = (u: number): void => {
    units.push(u);
    if (units.length >= 4096) {
      parts.push(String.fromCharCode.apply(null, units));
      units = [];
    }
  };
  let i = start;
  while (i < end) {
    const b = bytes[i];
    if (b < 0x80) {
      push(b);
      i++;
      continue;
    }
    let need: number;
    let cp: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      cp = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      cp = b & 0x0f;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f; // no surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      cp = b & 0x07;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else {
      push(0xfffd);
      i++;
      continue;
    }
    let j = i + 1;
    let ok = true;
    for (let k = 0; k < need; k++, j++) {
      const c = j < end ? bytes[j] : -1;
      if (c < lo || c > hi) {
        ok = false;
        break;
      }
      lo = 0x80;
      hi = 0xbf;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (!ok) {
      push(0xfffd); // the bytes so far are one bad subsequence; resume at the offending byte
      i = j;
      continue;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      push(0xd800 + (cp >> 10));
      push(0xdc00 + (cp & 0x3ff));
    } else push(cp);
    i = j;
  }
  if (units.length) parts.push(String.fromCharCode.apply(null, units));
  return parts.join("");
}
