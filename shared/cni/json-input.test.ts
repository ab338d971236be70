import { decodeJson, decodeJsonObject, MAX_JSON_DEPTH, nestedDeeperThan, quoted, shortText } from "./json-input";

const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
const rejected = (f: () => unknown): { code: number; message: string; details?: string } => {
  try {
    f();
  } catch (e) {
    return e as { code: number; message: string; details?: string };
  }
  throw new Error("did not throw");
};

describe("nestedDeeperThan()", () => {
  test("counts arrays and objects, not brackets inside strings", () => {
    expect(nestedDeeperThan(deep(3), 3)).toBe(false);
    expect(nestedDeeperThan(deep(4), 3)).toBe(true);
    expect(nestedDeeperThan('{"a":{"b":[{}]}}', 3)).toBe(true);
    expect(nestedDeeperThan('{"a":{"b":[1]}}', 3)).toBe(false);
    expect(nestedDeeperThan(`{"a":"${"[".repeat(50)}"}`, 3)).toBe(false);
    expect(nestedDeeperThan(`{"a\\"[[[[":"x\\\\"}`, 1)).toBe(false); // escaped quote, then an escaped backslash
    expect(nestedDeeperThan(`["\\\\",[[[]]]]`, 3)).toBe(true); // the string ends after \\\\
  });

  test("siblings do not add up: only the depth counts", () => {
    expect(nestedDeeperThan("[" + "[[]],".repeat(5000) + "1]", 3)).toBe(false);
  });

  test("an unterminated string is left to JSON.parse", () => {
    expect(nestedDeeperThan('["' + "[".repeat(5000), 10)).toBe(false);
  });
});

describe("decodeJson()", () => {
  test("accepts exactly MAX_JSON_DEPTH levels and refuses one more with code 6", () => {
    expect(decodeJson(Buffer.from(deep(MAX_JSON_DEPTH)), "network config")).toBeDefined();
    const e = rejected(() => decodeJson(Buffer.from(deep(MAX_JSON_DEPTH + 1)), "network config"));
    expect(e.code).toBe(6);
    expect(e.message).toBe(`error decoding network config: nested more than ${MAX_JSON_DEPTH} levels deep`);
  });

  test("a 10 MB document of nested arrays is refused quickly and without a stack overflow", () => {
    const started = Date.now();
    const e = rejected(() => decodeJson(Buffer.from(`{"args":${deep(5 * 1024 * 1024)}}`), "network config"));
    expect(e.code).toBe(6);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test("refuses invalid UTF-8 (a replacement character would change a name or path) and says where", () => {
    const e = rejected(() => decodeJson(Buffer.from([0x7b, 0x22, 0x61, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]), "network config"));
    expect(e).toMatchObject({ code: 6, message: "error decoding network config: not valid UTF-8", details: "byte 4 does not start or continue a UTF-8 character" });
    expect(decodeJson(Buffer.from('{"a":"é€😀"}'), "x")).toEqual({ a: "é€😀" });
  });

  test.each([
    ["", "empty input (expected a JSON object)"],
    [" \n", "empty input (expected a JSON object)"],
    ["{nope", "not valid JSON"],
    ['{"a":1}x', "not valid JSON"],
  ])("refuses %j with code 6", (text, msg) => {
    expect(rejected(() => decodeJson(Buffer.from(text), "network config"))).toMatchObject({ code: 6, message: `error decoding network config: ${msg}` });
  });

  test("duplicate keys: the last one counts, as in Go's encoding/json", () => {
    expect(decodeJsonObject(Buffer.from('{"a":1,"a":2}'), "x")).toEqual({ a: 2 });
  });
});

describe("decodeJsonObject()", () => {
  test.each([
    ["[1]", "an array"],
    ["1e308", "a number"],
    ['"s"', "a string"],
    ["null", "null"],
    ["true", "a boolean"],
  ])("refuses the document %j with code 6, naming what it is", (text, what) => {
    expect(rejected(() => decodeJsonObject(Buffer.from(text), "network config"))).toMatchObject({ code: 6, message: `error decoding network config: must be a JSON object, got ${what}` });
  });
});

describe("quoting input in messages", () => {
  test("shortText() and quoted() cut long input and say how much is left out", () => {
    expect(shortText("abc", 5)).toBe("abc");
    expect(shortText("abcdefgh", 5)).toBe("abcde... (3 more characters)");
    expect(quoted("x".repeat(10), 4)).toBe('"xxxx"... (6 more characters)');
    expect(quoted({ a: 1 })).toBe('{"a":1}');
  });

  test("quoted() names what JSON.stringify cannot show", () => {
    expect(quoted(Infinity)).toBe("Infinity");
    expect(quoted(-Infinity)).toBe("-Infinity");
    expect(quoted(undefined)).toBe("undefined");
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(quoted(cyclic)).toBe("object");
  });
});
