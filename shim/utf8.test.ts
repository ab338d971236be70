import { utf8Decode, utf8Encode } from "./utf8";
import { sniffCniVersion, errorJson } from "./cni";
import { fallbackAdditions, pluginBinary } from "./fallback";

/** A deterministic pseudo-random source. */
function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x >>> 8;
  };
}

describe("utf8 (as Node's Buffer does it)", () => {
  test("encodes any string, lone surrogates included, as Buffer.from does", () => {
    const next = rng(1);
    const pool = [0x41, 0x7f, 0x80, 0xe9, 0x7ff, 0x800, 0x4e2d, 0xd7ff, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xe000, 0xfffd, 0xffff];
    for (let n = 0; n < 500; n++) {
      const units: number[] = [];
      for (let i = next() % 40; i > 0; i--) units.push(next() % 3 === 0 ? pool[next() % pool.length] : next() % 0x10000);
      const s = String.fromCharCode(...units) + "🚀x";
      expect(Buffer.from(utf8Encode(s)).equals(Buffer.from(s, "utf8"))).toBe(true);
    }
  });

  test("reserves room before the text", () => {
    const b = utf8Encode("é", 4);
    expect([...b]).toEqual([0, 0, 0, 0, 0xc3, 0xa9]);
  });

  test("decodes any bytes, invalid and cut sequences included, as Buffer#toString does", () => {
    const next = rng(2);
    const pool = [0x41, 0x80, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xa0, 0xed, 0x9f, 0xef, 0xf0, 0x90, 0xf4, 0x8f, 0xf5, 0xff];
    for (let n = 0; n < 2000; n++) {
      const bytes = new Uint8Array(next() % 24);
      for (let i = 0; i < bytes.length; i++) bytes[i] = next() % 2 ? pool[next() % pool.length] : next() % 256;
      expect(utf8Decode(bytes)).toBe(Buffer.from(bytes).toString("utf8"));
    }
    const long = Buffer.from("ü🚀-".repeat(5000));
    expect(utf8Decode(new Uint8Array(long))).toBe(long.toString("utf8"));
  });
});

describe("the shim's CNI errors", () => {
  test("printed as the plugins print them; an unsupported version shown as the newest", () => {
    expect(errorJson("0.4.0", 11, "m", "d")).toBe('{\n    "cniVersion": "0.4.0",\n    "code": 11,\n    "msg": "m",\n    "details": "d"\n}\n');
    expect(JSON.parse(errorJson("9.9.9", 11, "m")).cniVersion).toBe("1.1.0");
    expect(JSON.parse(errorJson(undefined, 999, "m"))).toEqual({ cniVersion: "1.1.0", code: 999, msg: "m" });
  });

  test("cniVersion of a whole config, or from the head of a larger one", () => {
    const enc = (s: string) => new Uint8Array(Buffer.from(s));
    expect(sniffCniVersion(enc('{"cniVersion": "0.4.0", "name": "n"}'), true)).toBe("0.4.0");
    expect(sniffCniVersion(enc('{"cniVersion": 4}'), true)).toBeUndefined();
    expect(sniffCniVersion(enc('["cniVersion"]'), true)).toBeUndefined();
    expect(sniffCniVersion(enc('{"cniVersion": "0.4.0", "name": '), true)).toBeUndefined(); // cut: does not parse
    expect(sniffCniVersion(enc('{ "name": "n",\n  "cniVersion" :\t"1.0.0", "pad": "xx'), false)).toBe("1.0.0");
    expect(sniffCniVersion(enc('{"cniVersion": "1.0'), false)).toBeUndefined();
    expect(sniffCniVersion(enc('{"name": "n", "pad": "xx'), false)).toBeUndefined();
  });
});

describe("fallback", () => {
  test("the Bun binary gets its JIT turned off, unless the caller said otherwise", () => {
    expect(fallbackAdditions({ A: "1" })).toEqual({ BUN_JSC_useJIT: "0" });
    expect(fallbackAdditions({ BUN_JSC_useJIT: "1" })).toEqual({});
  });

  test("the Bun binary: PATCHCORD_BINARY, else patchcord beside the shim's executable", () => {
    expect(pluginBinary({ PATCHCORD_BINARY: "/x/y" }, "/opt/cni/bin/bridge")).toBe("/x/y");
    expect(pluginBinary({}, "/opt/cni/bin/patchcord-shim")).toBe("/opt/cni/bin/patchcord");
    expect(pluginBinary({}, "/opt/cni/bin/bridge (deleted)")).toBe("/opt/cni/bin/patchcord");
    expect(pluginBinary({}, "/shim")).toBe("/patchcord");
    expect(pluginBinary({}, undefined)).toBeUndefined();
  });
});
