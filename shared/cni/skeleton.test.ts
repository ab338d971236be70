import { CniError } from "./errors";
import { PluginFuncs, PluginIO, Request, runPlugin, usageLine } from "./skeleton";

interface Captured {
  io: PluginIO;
  out: () => string;
  err: () => string;
  /** How many times stdout was written (an error must be one document, written once). */
  outWrites: () => number;
  stdinReads: () => number;
}

function fakeIO(env: Record<string, string | undefined>, stdin: string | Buffer | Error = ""): Captured {
  let out = "";
  let err = "";
  let outWrites = 0;
  let stdinReads = 0;
  return {
    io: {
      env,
      readStdin: async () => {
        stdinReads++;
        if (stdin instanceof Error) throw stdin;
        return Buffer.from(stdin);
      },
      stdout: (t) => {
        outWrites++;
        out += t;
      },
      stderr: (t) => (err += t),
    },
    out: () => out,
    err: () => err,
    outWrites: () => outWrites,
    stdinReads: () => stdinReads,
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
const handlers = ["parseConfig", "add", "del", "check", "gc", "status"] as const;

async function run(e: Record<string, string | undefined>, stdin: string | Buffer | Error, f = funcs()) {
  const c = fakeIO(e, stdin);
  const code = await runPlugin(f, about, c.io);
  const text = c.out();
  return { code, text, json: text ? JSON.parse(text) : undefined, err: c.err(), f, outWrites: c.outWrites(), stdinReads: c.stdinReads() };
}

const expectNoHandlerCalled = (f: PluginFuncs<string>) => {
  for (const h of handlers) expect(f[h]).not.toHaveBeenCalled();
};

describe("runPlugin() without or with an unknown CNI_COMMAND", () => {
  test("runPlugin() without CNI_COMMAND prints a usage line and a code-4 error", async () => {
    const r = await run({}, "");
    expect(r.code).toBe(1);
    expect(r.err.split("\n")[0]).toBe(usageLine(about));
    expect(r.err).toContain("testplug (patchcord 9.9.9)");
    expect(r.err).toContain("0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0");
    expect(r.json).toEqual({ cniVersion: "1.1.0", code: 4, msg: "required env variables [CNI_COMMAND] missing" });
  });

  test("runPlugin() without CNI_COMMAND reads no stdin, calls no handler and prints one JSON document", async () => {
    const r = await run({ CNI_COMMAND: "" }, conf());
    expect(r.code).toBe(1);
    expect(r.stdinReads).toBe(0);
    expect(r.outWrites).toBe(1);
    expect(r.json.code).toBe(4);
    expect(r.err).toContain(usageLine(about));
    expectNoHandlerCalled(r.f);
  });

  test("usageLine() names the plugin, its version and the supported spec versions", () => {
    expect(usageLine({ name: "bridge", version: "1.2.3" })).toMatch(/^bridge \(patchcord 1\.2\.3\): .*CNI protocol versions supported: 0\.3\.0, 0\.3\.1, 0\.4\.0, 1\.0\.0, 1\.1\.0$/);
  });

  test("runPlugin() rejects an unknown CNI_COMMAND with code 4 naming it", async () => {
    const r = await run({ ...env("ADD"), CNI_COMMAND: "FROB" }, conf());
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ cniVersion: "1.1.0", code: 4, msg: 'unknown CNI_COMMAND: "FROB"' });
    expect(r.err).not.toContain(usageLine(about));
    expectNoHandlerCalled(r.f);
  });

  test("runPlugin() rejects missing attachment variables with code 4 before reading stdin", async () => {
    const r = await run({ CNI_COMMAND: "ADD", CNI_PATH: "/bin" }, conf());
    expect(r.code).toBe(1);
    expect(r.json).toEqual({ cniVersion: "1.1.0", code: 4, msg: "required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME] missing" });
    expect(r.stdinReads).toBe(0);
    expectNoHandlerCalled(r.f);
  });

  test("runPlugin() rejects an invalid CNI_IFNAME with code 4 naming the variable", async () => {
    const r = await run({ ...env("ADD"), CNI_IFNAME: "eth0\nlink del lo" }, conf());
    expect(r.json).toMatchObject({ code: 4, msg: "invalid env variables [CNI_IFNAME]" });
    expectNoHandlerCalled(r.f);
  });
});

describe("runPlugin() VERSION", () => {
  const versionAnswer = { cniVersion: "1.1.0", supportedVersions: ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] };

  test("runPlugin() answers VERSION without calling the plugin", async () => {
    const r = await run({ CNI_COMMAND: "VERSION" }, "garbage");
    expect(r.code).toBe(0);
    expect(r.json).toEqual(versionAnswer);
    expect(r.f.parseConfig).not.toHaveBeenCalled();
  });

  test.each([
    ["empty stdin", ""],
    ["invalid JSON", "{"],
    ["a JSON array", "[]"],
    ["an empty cniVersion", '{"cniVersion":""}'],
  ])("runPlugin() VERSION with %s falls back to 1.1.0", async (_what, stdin) => {
    const r = await run({ CNI_COMMAND: "VERSION" }, stdin);
    expect(r.code).toBe(0);
    expect(r.json).toEqual(versionAnswer);
    expect(r.err).toBe("");
  });

  test("runPlugin() VERSION ignores libcni's dummy variables and reads no stdin", async () => {
    const r = await run({ CNI_COMMAND: "VERSION", CNI_NETNS: "dummy", CNI_IFNAME: "dummy", CNI_PATH: "dummy", CNI_ARGS: "junk" }, new Error("no stdin"));
    expect(r.code).toBe(0);
    expect(r.json).toEqual(versionAnswer);
    expect(r.stdinReads).toBe(0);
    expectNoHandlerCalled(r.f);
  });

  // The brief asked for VERSION to echo the caller's cniVersion (spec F-1 wording). The code answers
  // with our newest version instead and reads no stdin, on purpose (libcni sends none and accepts
  // it; see skeleton.ts runVersion). This pins the current behaviour.
  test("runPlugin() VERSION answers 1.1.0 even when stdin names another supported version", async () => {
    const r = await run({ CNI_COMMAND: "VERSION" }, '{"cniVersion":"0.4.0"}');
    expect(r.json.cniVersion).toBe("1.1.0");
    expect(r.json.supportedVersions).toContain("0.4.0");
  });
});

test("runPlugin() refuses a stdin over the server's 64 MiB with code 5, as the server does", async () => {
  const r = await run(env("ADD"), Buffer.alloc(64 * 1024 * 1024 + 1, 0x20));
  expect(r.json).toMatchObject({ code: 5, msg: "error reading network config from stdin: more than 67108864 bytes" });
});

describe("runPlugin() config validation", () => {
  test.each([
    ["malformed JSON", env("ADD"), "{nope", 6, "error decoding network config: not valid JSON"],
    ["a JSON array", env("ADD"), "[1]", 6, "error decoding network config: must be a JSON object, got an array"],
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

  test.each([
    ["empty stdin", env("ADD"), "", 6],
    ["JSON null", env("ADD"), "null", 6],
    ["a JSON string", env("DEL"), '"cniVersion"', 6],
    ["a JSON number", env("ADD"), "42", 6],
    ["invalid UTF-8 garbage", env("ADD"), Buffer.from([0xff, 0xfe, 0x00]), 6],
    ["no cniVersion (0.1.0)", env("ADD"), JSON.stringify({ name: "net" }), 1],
    ["cniVersion 0.1.0", env("ADD"), conf({ cniVersion: "0.1.0" }), 1],
    ["cniVersion 0.2.0", env("DEL"), conf({ cniVersion: "0.2.0" }), 1],
    ["a numeric cniVersion", env("ADD"), conf({ cniVersion: 1 }), 1],
    ["a numeric name", env("ADD"), conf({ name: 5 }), 7],
    ["an empty name", env("ADD"), conf({ name: "" }), 7],
    ["a name with a slash", env("DEL"), conf({ name: "a/b" }), 7],
    ["a name with a newline", env("ADD"), conf({ name: "net\nx" }), 7],
    ["a name with a space", env("ADD"), conf({ name: "my net" }), 7],
    ["a name of ..", env("ADD"), conf({ name: ".." }), 7],
    ["CHECK on 0.3.0", env("CHECK"), conf({ cniVersion: "0.3.0" }), 1],
    ["STATUS on 1.0.0", { CNI_COMMAND: "STATUS" }, conf(), 1],
    ["GC on 0.4.0", { CNI_COMMAND: "GC", CNI_PATH: "/bin" }, conf({ cniVersion: "0.4.0" }), 1],
    ["a prevResult that is a list", env("ADD"), conf({ prevResult: [] }), 6],
    ["a prevResult with version 4 on an IPv6 address", env("ADD"), conf({ cniVersion: "0.4.0", prevResult: { cniVersion: "0.4.0", ips: [{ version: "4", address: "fd00::1/64" }] } }), 6],
  ])("runPlugin() rejects %s with code %#", async (_what, e, stdin, code) => {
    const r = await run(e, stdin);
    expect(r.code).toBe(1);
    expect(r.json.code).toBe(code);
    expect(r.outWrites).toBe(1);
    expectNoHandlerCalled(r.f);
  });

  test("runPlugin() reports a stdin read failure as code 5", async () => {
    const r = await run(env("ADD"), new Error("EIO: i/o error, read"));
    expect(r.code).toBe(1);
    expect(r.json).toEqual({ cniVersion: "1.1.0", code: 5, msg: "error reading network config from stdin", details: "EIO: i/o error, read" });
    expectNoHandlerCalled(r.f);
  });

  test("runPlugin() labels an unsupported-version error with our newest version, not the config's", async () => {
    const r = await run(env("ADD"), conf({ cniVersion: "0.2.0" }));
    expect(r.json).toMatchObject({ cniVersion: "1.1.0", code: 1, msg: "incompatible CNI versions" });
    expect(r.json.details).toContain('"0.2.0"');
  });

  test("runPlugin() labels errors found after the version check with the config's version", async () => {
    expect((await run(env("ADD"), JSON.stringify({ cniVersion: "0.4.0" }))).json).toMatchObject({ cniVersion: "0.4.0", code: 7 });
    expect((await run(env("CHECK"), conf({ cniVersion: "0.3.1" }))).json).toMatchObject({ cniVersion: "0.3.1", code: 1 });
    expect((await run({ CNI_COMMAND: "GC", CNI_PATH: "/bin" }, conf())).json).toMatchObject({ cniVersion: "1.0.0", code: 1 });
  });

  test("runPlugin() stops the verb on a config error from parseConfig", async () => {
    const f = funcs({
      parseConfig: jest.fn(() => {
        throw new CniError(2, "foo: unsupported key (value 1)");
      }),
    });
    const r = await run(env("ADD"), conf(), f);
    expect(r.json).toMatchObject({ code: 2, msg: "foo: unsupported key (value 1)" });
    expect(f.add).not.toHaveBeenCalled();
  });
});

describe("runPlugin() dispatch and results", () => {
  test("runPlugin() prints the ADD result in the config's version", async () => {
    const r = await run(env("ADD"), conf({ cniVersion: "0.4.0" }));
    expect(r.code).toBe(0);
    expect(r.json).toEqual({ cniVersion: "0.4.0", ips: [{ version: "4", address: "10.0.0.2/24", gateway: "10.0.0.1" }], dns: {} });
  });

  const richResult = async () => ({
    interfaces: [{ name: "eth0", mac: "0a:58:0a:00:00:02", mtu: 1450, sandbox: "/run/netns/x" }],
    ips: [
      { address: "10.0.0.2/24", gateway: "10.0.0.1", interface: 0 },
      { address: "fd00::2/64", interface: 0 },
    ],
    routes: [{ dst: "0.0.0.0/0", gw: "10.0.0.1" }],
  });

  test.each([
    ["0.3.0", true],
    ["0.3.1", true],
    ["0.4.0", true],
    ["1.0.0", false],
    ["1.1.0", false],
  ])("runPlugin() prints an ADD result for a %s config in that version's shape", async (v, old) => {
    const r = await run(env("ADD"), conf({ cniVersion: v }), funcs({ add: jest.fn(richResult) }));
    expect(r.code).toBe(0);
    expect(r.outWrites).toBe(1);
    expect(r.json).toEqual({
      cniVersion: v,
      interfaces: [old ? { name: "eth0", mac: "0a:58:0a:00:00:02", sandbox: "/run/netns/x" } : { name: "eth0", mac: "0a:58:0a:00:00:02", mtu: 1450, sandbox: "/run/netns/x" }],
      ips: [
        { ...(old ? { version: "4" } : {}), address: "10.0.0.2/24", gateway: "10.0.0.1", interface: 0 },
        { ...(old ? { version: "6" } : {}), address: "fd00::2/64", interface: 0 },
      ],
      routes: [{ dst: "0.0.0.0/0", gw: "10.0.0.1" }],
      ...(old ? { dns: {} } : {}),
    });
  });

  test("runPlugin() prints the ADD result as one indented JSON document", async () => {
    const r = await run(env("ADD"), conf({ cniVersion: "1.1.0" }));
    expect(r.text).toBe(JSON.stringify({ cniVersion: "1.1.0", ips: [{ address: "10.0.0.2/24", gateway: "10.0.0.1" }] }, null, 4) + "\n");
  });

  test.each([
    ["DEL", env("DEL"), "1.0.0", "del"],
    ["CHECK", env("CHECK"), "0.4.0", "check"],
    ["GC", { CNI_COMMAND: "GC", CNI_PATH: "/opt/cni/bin" }, "1.1.0", "gc"],
    ["STATUS", { CNI_COMMAND: "STATUS" }, "1.1.0", "status"],
  ] as const)("runPlugin() dispatches %s to its handler only and prints nothing on success", async (_verb, e, v, handler) => {
    const r = await run(e, conf({ cniVersion: v }));
    expect(r.code).toBe(0);
    expect(r.text).toBe("");
    expect(r.f[handler]).toHaveBeenCalledTimes(1);
    for (const other of ["add", "del", "check", "gc", "status"] as const) if (other !== handler) expect(r.f[other]).not.toHaveBeenCalled();
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

  test("runPlugin() passes every part of the request to the ADD handler", async () => {
    const f = funcs();
    const e = { ...env("ADD"), CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=pod", CNI_PATH: "/opt/cni/bin:/usr/lib/cni" };
    const stdin = conf({ cniVersion: "1.1.0", bridge: "cni0" });
    await run(e, stdin, f);
    const req = (f.add as jest.Mock).mock.calls[0][0] as Request<string>;
    expect(req).toMatchObject({
      command: "ADD",
      containerId: "c1",
      netns: "/run/netns/x",
      ifname: "eth0",
      args: { IgnoreUnknown: "1", K8S_POD_NAMESPACE: "ns", K8S_POD_NAME: "pod" },
      path: ["/opt/cni/bin", "/usr/lib/cni"],
      version: "1.1.0",
      network: "net",
      config: "parsed",
      raw: JSON.parse(stdin),
      env: e,
    });
    expect(Buffer.isBuffer(req.stdin)).toBe(true);
    expect(req.stdin.equals(Buffer.from(stdin))).toBe(true);
    expect(req.prevResult).toBeUndefined();
    expect(req.trace.enabled).toBe(false);
    expect(f.parseConfig).toHaveBeenCalledWith(JSON.parse(stdin), expect.objectContaining({ command: "ADD", ifname: "eth0" }));
  });

  test("runPlugin() parses a prevResult without cniVersion as the config's version", async () => {
    const f = funcs();
    const prevResult = { ips: [{ version: "4", address: "10.0.0.2/24", gateway: "10.0.0.1" }], dns: { nameservers: ["10.0.0.10"] } };
    await run(env("CHECK"), conf({ cniVersion: "0.4.0", prevResult }), f);
    const req = (f.check as jest.Mock).mock.calls[0][0] as Request<string>;
    expect(req.prevResult).toEqual({ cniVersion: "0.4.0", ips: [{ address: "10.0.0.2/24", gateway: "10.0.0.1" }], dns: { nameservers: ["10.0.0.10"] } });
  });

  test("runPlugin() hands a chained ADD the previous plugin's result", async () => {
    const f = funcs({ add: jest.fn(async (req: Request<string>) => ({ ...req.prevResult, routes: [{ dst: "10.9.0.0/16" }] })) });
    const prevResult = { cniVersion: "1.0.0", interfaces: [{ name: "eth0", sandbox: "/run/netns/x" }], ips: [{ address: "10.0.0.2/24", interface: 0 }] };
    const r = await run(env("ADD"), conf({ prevResult }), f);
    expect(r.json).toEqual({ ...prevResult, routes: [{ dst: "10.9.0.0/16" }] });
  });

  test("runPlugin() treats a null prevResult as absent", async () => {
    const f = funcs();
    await run(env("DEL"), conf({ prevResult: null }), f);
    expect(((f.del as jest.Mock).mock.calls[0][0] as Request<string>).prevResult).toBeUndefined();
  });

  test("runPlugin() for DEL accepts an empty CNI_NETNS", async () => {
    const f = funcs();
    const r = await run({ ...env("DEL"), CNI_NETNS: "" }, conf(), f);
    expect(r.code).toBe(0);
    expect(((f.del as jest.Mock).mock.calls[0][0] as Request<string>).netns).toBe("");
  });

  test("runPlugin() sends trace lines to stderr, never to stdout", async () => {
    const f = funcs({
      add: jest.fn(async (req: Request<string>) => {
        req.trace.write(["ip link add veth1 type veth peer name eth0"]);
        return { ips: [{ address: "10.0.0.2/24" }] };
      }),
    });
    const r = await run({ ...env("ADD"), PATCHCORD_TRACE: "stderr" }, conf(), f);
    expect(r.code).toBe(0);
    const untimed = r.err.replace(/^# \+\d+(\.\d+)? ms( done)?\n/gm, "").replace(/^# config read and validated\n/m, "");
    expect(untimed).toBe("# testplug ADD container=c1 ifname=eth0 netns=/run/netns/x\nip link add veth1 type veth peer name eth0\n");
    expect(r.json).toEqual({ cniVersion: "1.0.0", ips: [{ address: "10.0.0.2/24" }] });
  });
});

describe("runPlugin() handler errors", () => {
  test("runPlugin() prints a CniError from the handler with the config's version and exit 1", async () => {
    const f = funcs({ add: jest.fn(async () => Promise.reject(new CniError(7, "bad subnet", "why"))) });
    const r = await run(env("ADD"), conf({ cniVersion: "0.3.1" }), f);
    expect(r.code).toBe(1);
    expect(r.json).toEqual({ cniVersion: "0.3.1", code: 7, msg: "bad subnet", details: "why" });
  });

  test.each(["0.3.0", "0.4.0", "1.0.0", "1.1.0"])("runPlugin() labels a handler's CniError with the %s config's version", async (v) => {
    const f = funcs({
      del: jest.fn(async () => {
        throw new CniError(7, "invalid ipam config");
      }),
    });
    const r = await run(env("DEL"), conf({ cniVersion: v }), f);
    expect(r.code).toBe(1);
    expect(r.json).toEqual({ cniVersion: v, code: 7, msg: "invalid ipam config" });
    expect(r.err).toBe("testplug: invalid ipam config\n");
  });

  test("runPlugin() keeps the code of a plugin-specific CniError", async () => {
    const f = funcs({ add: jest.fn(async () => Promise.reject(new CniError(100, "no free address in 10.0.0.0/30"))) });
    const r = await run(env("ADD"), conf(), f);
    expect(r.json).toEqual({ cniVersion: "1.0.0", code: 100, msg: "no free address in 10.0.0.0/30" });
  });

  test("runPlugin() turns an untyped error into code 999 with no stack anywhere", async () => {
    const f = funcs({ del: jest.fn(async () => Promise.reject(new TypeError("undefined is not a function"))) });
    const r = await run(env("DEL"), conf(), f);
    expect(r.json).toEqual({ cniVersion: "1.0.0", code: 999, msg: "undefined is not a function" });
    expect(r.text).not.toMatch(/\n\s+at /);
    expect(r.err).toBe("testplug: undefined is not a function\n");
    expect(r.text.trim().split("\n}\n").length).toBe(1); // one JSON document
  });

  test("runPlugin() prints an untyped error's stack on stderr (only) when PATCHCORD_TRACE is set", async () => {
    const f = funcs({ del: jest.fn(async () => Promise.reject(new TypeError("undefined is not a function"))) });
    const r = await run({ ...env("DEL"), PATCHCORD_TRACE: "/dev/null" }, conf(), f);
    expect(r.json).toEqual({ cniVersion: "1.0.0", code: 999, msg: "undefined is not a function" });
    expect(r.text).not.toMatch(/\n\s+at /);
    expect(r.err).toMatch(/TypeError: undefined is not a function\n\s+at /);
  });

  test("runPlugin() prints a plain Error thrown by ADD as one 999 JSON document with no stack", async () => {
    const boom = new Error("EACCES: permission denied");
    const f = funcs({
      add: jest.fn(async () => {
        throw boom;
      }),
    });
    const r = await run(env("ADD"), conf({ cniVersion: "0.4.0" }), f);
    expect(r.code).toBe(1);
    expect(r.outWrites).toBe(1);
    expect(JSON.parse(r.text)).toEqual({ cniVersion: "0.4.0", code: 999, msg: "EACCES: permission denied" });
    expect(r.text).not.toContain("skeleton.test");
    expect(r.text).not.toContain(boom.stack!.split("\n")[1].trim());
    expect(r.err).toBe("testplug: EACCES: permission denied\n");
  });

  test("runPlugin() turns a thrown non-Error value into code 999", async () => {
    const f = funcs({
      status: jest.fn(async () => {
        throw "daemon not running";
      }),
    });
    const r = await run({ CNI_COMMAND: "STATUS" }, conf({ cniVersion: "1.1.0" }), f);
    expect(r.code).toBe(1);
    expect(r.json).toEqual({ cniVersion: "1.1.0", code: 999, msg: "daemon not running" });
  });

  test("runPlugin() passes STATUS's code 50 through", async () => {
    const f = funcs({ status: jest.fn(async () => Promise.reject(new CniError(50, "plugin not available"))) });
    const r = await run({ CNI_COMMAND: "STATUS" }, conf({ cniVersion: "1.1.0" }), f);
    expect(r.json).toEqual({ cniVersion: "1.1.0", code: 50, msg: "plugin not available" });
  });

  test("runPlugin() prints only the error when the ADD result cannot be formatted", async () => {
    // A buggy handler resolving to nothing: the failure happens while printing, after ADD returned.
    const f = funcs({ add: jest.fn(async () => undefined as unknown as { ips: [] }) });
    const r = await run(env("ADD"), conf(), f);
    expect(r.code).toBe(1);
    expect(r.outWrites).toBe(1);
    expect(JSON.parse(r.text)).toMatchObject({ cniVersion: "1.0.0", code: 999 });
  });
});
