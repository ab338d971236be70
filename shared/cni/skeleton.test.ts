import { CniError } from "./errors";
import { PluginFuncs, PluginIO, Request, runPlugin, usageLine } from "./skeleton";

interface Captured {
  io: PluginIO;
  out: () => string;
  err: () => string;
}

function fakeIO(env: Record<string, string | undefined>, stdin: string | Buffer = ""): Captured {
  let out = "";
  let err = "";
  return {
    io: { env, readStdin: async () => Buffer.from(stdin), stdout: (t) => (out += t), stderr: (t) => (err += t) },
    out: () => out,
    err: () => err,
  };
}

function funcs(over: Partial<PluginFuncs<string>> = {}): PluginFuncs<string> {
  return {
    parseConfig: jest.fn(() => "parsed"),
    add: jest.fn(async () => ({ ips: [{ address: "10.0.0.2/24", gateway: "10.0.0.1" }] })),
    del: jest.fn(async () => undefined),
    check: jest.fn(async () => undefined),
    gc: jest.fn(async () => undefined),
    status: jest.fn(async () => undefined),
    ...over,
  };
}

const about = { name: "testplug", version: "9.9.9" };
const env = (command: string) => ({ CNI_COMMAND: command, CNI_CONTAINERID: "c1", CNI_NETNS: "/run/netns/x", CNI_IFNAME: "eth0", CNI_PATH: "/bin" });
const conf = (extra: Record<string, unknown> = {}) => JSON.stringify({ cniVersion: "1.0.0", name: "net", type: "testplug", ...extra });

async function run(e: Record<string, string | undefined>, stdin: string, f = funcs()) {
  const c = fakeIO(e, stdin);
  const code = await runPlugin(f, about, c.io);
  const text = c.out();
  return { code, text, json: text ? JSON.parse(text) : undefined, err: c.err(), f };
}

test("runPlugin() without CNI_COMMAND prints a usage line and a code-4 error", async () => {
  const r = await run({}, "");
  expect(r.code).toBe(1);
  expect(r.err.split("\n")[0]).toBe(usageLine(about));
  expect(r.err).toContain("testplug (patchcord 9.9.9)");
  expect(r.err).toContain("0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0");
  expect(r.json).toEqual({ cniVersion: "1.1.0", code: 4, msg: "required env variables [CNI_COMMAND] missing" });
});

test("runPlugin() answers VERSION without calling the plugin", async () => {
  const r = await run({ CNI_COMMAND: "VERSION" }, "garbage");
  expect(r.code).toBe(0);
  expect(r.json).toEqual({ cniVersion: "1.1.0", supportedVersions: ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] });
  expect(r.f.parseConfig).not.toHaveBeenCalled();
});

test.each([
  ["malformed JSON", env("ADD"), "{nope", 6, "error decoding network config: not valid JSON"],
  ["a JSON array", env("ADD"), "[1]", 6, "error decoding network config: must be a JSON object"],
  ["an unknown version", env("ADD"), conf({ cniVersion: "7.0.0" }), 1, "incompatible CNI versions"],
  ["no name", env("ADD"), JSON.stringify({ cniVersion: "1.0.0" }), 7, "missing network name"],
  ["a network name with ../", env("ADD"), conf({ name: "../x" }), 7, 'invalid network name "../x": has invalid characters (allowed: letters, digits, _ . -, not first)'],
  ["CHECK on 0.3.1", env("CHECK"), conf({ cniVersion: "0.3.1" }), 1, "config version does not allow CHECK"],
  ["GC on 1.0.0", { CNI_COMMAND: "GC", CNI_PATH: "/bin" }, conf(), 1, "config version does not allow GC"],
  ["a bad prevResult", env("DEL"), conf({ prevResult: { ips: [{ address: "x" }] } }), 6, 'cannot parse result: ips[0].address must be an address with prefix, got "x"'],
])("runPlugin() rejects %s before calling the plugin", async (_what, e, stdin, code, msg) => {
  const r = await run(e, stdin);
  expect(r.code).toBe(1);
  expect(r.json).toMatchObject({ code, msg });
  expect(r.f.parseConfig).not.toHaveBeenCalled();
  expect(r.f.add).not.toHaveBeenCalled();
});

test("runPlugin() prints the ADD result in the config's version", async () => {
  const r = await run(env("ADD"), conf({ cniVersion: "0.4.0" }));
  expect(r.code).toBe(0);
  expect(r.json).toEqual({ cniVersion: "0.4.0", ips: [{ version: "4", address: "10.0.0.2/24", gateway: "10.0.0.1" }], dns: {} });
});

test("runPlugin() hands the handler the validated request with prevResult parsed", async () => {
  const f = funcs();
  const prevResult = { cniVersion: "1.0.0", interfaces: [{ name: "eth0", sandbox: "/run/netns/x" }], ips: [{ address: "10.0.0.2/24", interface: 0 }] };
  const r = await run({ ...env("DEL"), CNI_ARGS: "K8S_POD_NAME=x" }, conf({ prevResult }), f);
  expect([r.code, r.text]).toEqual([0, ""]);
  const req = (f.del as jest.Mock).mock.calls[0][0] as Request<string>;
  expect(req).toMatchObject({ command: "DEL", network: "net", version: "1.0.0", config: "parsed", containerId: "c1", args: { K8S_POD_NAME: "x" } });
  expect(req.prevResult).toEqual(prevResult);
  expect(req.stdin.toString()).toBe(conf({ prevResult }));
});

test("a CniError from the handler is printed with the config's version and exit 1", async () => {
  const f = funcs({ add: jest.fn(async () => Promise.reject(new CniError(7, "bad subnet", "why"))) });
  const r = await run(env("ADD"), conf({ cniVersion: "0.3.1" }), f);
  expect(r.code).toBe(1);
  expect(r.json).toEqual({ cniVersion: "0.3.1", code: 7, msg: "bad subnet", details: "why" });
});

test("an untyped error becomes code 999 with its stack on stderr only", async () => {
  const f = funcs({ del: jest.fn(async () => Promise.reject(new TypeError("undefined is not a function"))) });
  const r = await run(env("DEL"), conf(), f);
  expect(r.json).toEqual({ cniVersion: "1.0.0", code: 999, msg: "undefined is not a function" });
  expect(r.text).not.toMatch(/\n\s+at /);
  expect(r.err).toMatch(/TypeError: undefined is not a function\n\s+at /);
  expect(r.text.trim().split("\n}\n").length).toBe(1); // one JSON document
});

test("a config error from parseConfig stops the verb", async () => {
  const f = funcs({
    parseConfig: jest.fn(() => {
      throw new CniError(2, "foo: unsupported key (value 1)");
    }),
  });
  const r = await run(env("ADD"), conf(), f);
  expect(r.json).toMatchObject({ code: 2, msg: "foo: unsupported key (value 1)" });
  expect(f.add).not.toHaveBeenCalled();
});
