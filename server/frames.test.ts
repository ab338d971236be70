import { attachmentKey, frame, FrameError, FrameReader, jsonFrame, parseRequest } from "./frames";
import { frameHeader, MAX_JSON_FRAME, PROTOCOL, STDIN_CHUNK } from "./protocol";

const bytes = (s: string) => new Uint8Array(Buffer.from(s));
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString());
const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

describe("FrameReader", () => {
  test("frames split at every byte boundary come out whole, in order", () => {
    const stream = concat(frame(bytes("hello")), frame(new Uint8Array(0)), frame(bytes("x".repeat(300))), frame(bytes("end")));
    for (let step = 1; step <= 7; step++) {
      const r = new FrameReader();
      const got: (string | undefined)[] = [];
      for (let i = 0; i < stream.length; i += step) {
        r.push(stream.subarray(i, i + step));
        for (let f = r.next(1000); f !== undefined; f = r.next(1000)) got.push(text(f));
      }
      expect(got).toEqual(["hello", "", "x".repeat(300), "end"]);
      expect(r.buffered).toBe(0);
    }
  });

  test("nothing until the whole frame is there; the rest stays buffered", () => {
    const r = new FrameReader();
    r.push(frameHeader(5));
    expect(r.next(10)).toBeUndefined();
    r.push(bytes("abc"));
    expect(r.next(10)).toBeUndefined();
    r.push(concat(bytes("de"), frameHeader(2), bytes("z")));
    expect(text(r.next(10))).toBe("abcde");
    expect(r.next(10)).toBeUndefined();
    expect(r.buffered).toBe(5);
  });

  test("an oversized frame is refused from its header alone, before its body arrives", () => {
    const r = new FrameReader();
    r.push(frameHeader(STDIN_CHUNK + 1));
    expect(() => r.next(STDIN_CHUNK)).toThrow(FrameError);
    const big = new FrameReader();
    big.push(frameHeader(0xffffffff));
    expect(() => big.next(MAX_JSON_FRAME)).toThrow("a frame of 4294967295 bytes, more than 4194304");
  });

  test("keeps its own copy of the input (the caller may reuse its buffer)", () => {
    const r = new FrameReader();
    const buf = concat(frameHeader(3), bytes("abc"));
    r.push(buf);
    buf.fill(0);
    expect(text(r.next(10))).toBe("abc");
  });

  test("jsonFrame is a header and UTF-8 JSON", () => {
    const f = jsonFrame({ a: "é" });
    const r = new FrameReader();
    r.push(f);
    expect(JSON.parse(text(r.next(100))!)).toEqual({ a: "é" });
    expect(f.length).toBe(4 + Buffer.byteLength('{"a":"é"}'));
  });
});

describe("parseRequest", () => {
  const ok = { protocol: PROTOCOL, plugin: "bridge", env: { CNI_COMMAND: "ADD", PATH: "/bin" } };
  const parse = (v: unknown) => parseRequest(bytes(typeof v === "string" ? v : JSON.stringify(v)));

  test("a good request", () => {
    expect(parse(ok)).toEqual(ok);
  });
  test.each([
    ["not JSON", "{", "the request is not JSON"],
    ["an array", [1], "the request is not a JSON object"],
    ["another protocol", { ...ok, protocol: 2 }, "the request speaks protocol 2, not 1"],
    ["no protocol", { plugin: "bridge", env: {} }, "the request speaks protocol undefined, not 1"],
    ["no plugin", { ...ok, plugin: "" }, "the request names no plugin"],
    ["a plugin that is not a string", { ...ok, plugin: 3 }, "the request names no plugin"],
    ["env not an object", { ...ok, env: ["CNI_COMMAND=ADD"] }, "the request's env is not an object"],
    ["an env value that is not a string", { ...ok, env: { CNI_COMMAND: "ADD", N: 1 } }, 'the request\'s env value of "N" is not a string'],
    ["a null env value", { ...ok, env: { CNI_COMMAND: null } }, 'the request\'s env value of "CNI_COMMAND" is not a string'],
  ])("refused: %s", (_, value, why) => {
    expect(parse(value)).toBe(why);
  });
});

test("attachmentKey: container and interface; none without a container id", () => {
  expect(attachmentKey({ CNI_CONTAINERID: "c1", CNI_IFNAME: "eth0" })).toBe("c1/eth0");
  expect(attachmentKey({ CNI_CONTAINERID: "c1", CNI_IFNAME: "net1" })).not.toBe(attachmentKey({ CNI_CONTAINERID: "c1", CNI_IFNAME: "eth0" }));
  expect(attachmentKey({ CNI_COMMAND: "VERSION" })).toBeUndefined();
  expect(attachmentKey({ CNI_CONTAINERID: "", CNI_IFNAME: "eth0" })).toBeUndefined();
});
