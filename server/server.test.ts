import { hostNetns, setHostNetnsSource } from "../shared/kernel/netns";
import { FrameReader } from "./frames";
import { MAX_JSON_FRAME, PROTOCOL, Request } from "./protocol";
import { currentCallerNetns, replyFrame, runCall } from "./server";

// What the server does around one call, with the plugin replaced (the socket side needs Bun and
// root: test/integration/server.test.ts).
const req = (plugin = "bridge", env: Record<string, string> = { CNI_COMMAND: "ADD" }): Request => ({ protocol: PROTOCOL, plugin, env });
const stdin = Buffer.from('{"cniVersion": "0.4.0", "name": "n"}');

test("the plugin gets the request's env and stdin; its output is framed as console.log frames it", async () => {
  let seen: unknown;
  const reply = await runCall(req("patchcord-bridge", { CNI_COMMAND: "ADD", X: "1" }), stdin, undefined, undefined, async (name, io) => {
    seen = { name, env: io.env, stdin: (await io.readStdin()).toString() };
    io.stdout("{}");
    io.stdout("more\n");
    io.stderr("diag");
    io.stderr("");
    return 3;
  });
  expect(seen).toEqual({ name: "bridge", env: { CNI_COMMAND: "ADD", X: "1" }, stdin: stdin.toString() });
  expect(reply).toEqual({ code: 3, stdout: "{}\nmore\n", stderr: "diag\n\n" });
});

test("VERSION through the real registry answers without stdin", async () => {
  const reply = await runCall(req("host-local", { CNI_COMMAND: "VERSION" }), Buffer.alloc(0), undefined, undefined);
  expect(reply.code).toBe(0);
  expect(JSON.parse(reply.stdout)).toMatchObject({ cniVersion: "1.1.0", supportedVersions: expect.arrayContaining(["0.3.1", "1.1.0"]) });
});

test("the call's host side is the caller's namespace, for the whole call (across awaits), and only for it", async () => {
  const seen: (string | undefined)[] = [];
  const run = async () => {
    seen.push(hostNetns());
    await new Promise((r) => setTimeout(r, 5));
    seen.push(hostNetns());
    return 0;
  };
  setHostNetnsSource(currentCallerNetns); // what startServer does once

  await Promise.all([runCall(req(), stdin, "/proc/self/fd/7", undefined, run), runCall(req(), stdin, "/proc/self/fd/9", undefined, run), runCall(req(), stdin, undefined, undefined, run)]);
  expect(seen.sort()).toEqual(["/proc/self/fd/7", "/proc/self/fd/7", "/proc/self/fd/9", "/proc/self/fd/9", undefined, undefined]);
  expect(hostNetns()).toBeUndefined();
  setHostNetnsSource(() => undefined);
});

test("an unknown plugin: code 2 and main's message with the usage text", async () => {
  expect(await runCall(req("nosuch"), stdin, undefined, () => "USAGE")).toEqual({ code: 2, stdout: "", stderr: 'patchcord: unknown plugin name "nosuch"\nUSAGE\n' });
});

test("the server's own failure around a call: code 1, error 999 in the config's version, no stack trace", async () => {
  const reply = await runCall(req(), stdin, undefined, undefined, async (_, io) => {
    io.stderr("before");
    throw new TypeError("boom\nsecond line");
  });
  expect(reply.code).toBe(1);
  expect(JSON.parse(reply.stdout)).toEqual({ cniVersion: "0.4.0", code: 999, msg: "patchcord server: boom | second line" });
  expect(reply.stderr).toBe("before\nbridge: patchcord server: boom | second line\n");
  expect(reply.stdout + reply.stderr).not.toMatch(/\bat \S+ \(/);
  const sync = await runCall(req(), Buffer.from("not json"), undefined, undefined, () => {
    throw new Error("sync");
  });
  expect(JSON.parse(sync.stdout)).toMatchObject({ cniVersion: "1.1.0", code: 999 });
});

test("a reply over MAX_JSON_FRAME: stderr is cut to fit; a result that cannot fit becomes error 999", () => {
  const body = (f: Uint8Array) => {
    const r = new FrameReader();
    r.push(f);
    return JSON.parse(Buffer.from(r.next(MAX_JSON_FRAME)!).toString());
  };
  const small = replyFrame({ code: 0, stdout: "{}\n", stderr: "" });
  expect(body(small)).toEqual({ code: 0, stdout: "{}\n", stderr: "" });
  const cut = body(replyFrame({ code: 0, stdout: "{}\n", stderr: "e".repeat(MAX_JSON_FRAME) }));
  expect(cut.stdout).toBe("{}\n");
  expect(cut.stderr).toMatch(/^e+\n\[patchcord server: the rest of stderr did not fit in the reply\]\n$/);
  const escaped = body(replyFrame({ code: 0, stdout: "{}\n", stderr: "\u0001".repeat(MAX_JSON_FRAME / 2) })); // 6 bytes each in JSON
  expect(escaped.stdout).toBe("{}\n");
  expect(escaped.stderr).toMatch(/did not fit/);
  const huge = body(replyFrame({ code: 0, stdout: "r".repeat(MAX_JSON_FRAME), stderr: "" }));
  expect(huge.code).toBe(1);
  expect(JSON.parse(huge.stdout)).toMatchObject({ code: 999 });
});
