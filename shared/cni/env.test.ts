import { COMMANDS, parseCniArgs, readCommand, readInvocation } from "./env";
import { caught } from "./test-helpers";

const full = { CNI_COMMAND: "ADD", CNI_CONTAINERID: "abc", CNI_NETNS: "/run/netns/x", CNI_IFNAME: "eth0", CNI_PATH: "/opt/cni/bin:/usr/lib/cni" };
const error = (env: Record<string, string | undefined>) => caught(() => readInvocation(env));

describe("readCommand()", () => {
  test("readCommand() needs a known CNI_COMMAND (code 4)", () => {
    expect(readCommand({ CNI_COMMAND: "GC" })).toBe("GC");
    expect(() => readCommand({})).toThrow(expect.objectContaining({ code: 4, message: "required env variables [CNI_COMMAND] missing" }));
    expect(() => readCommand({ CNI_COMMAND: "add" })).toThrow(expect.objectContaining({ code: 4, message: 'unknown CNI_COMMAND: "add"' }));
  });

  test.each([...COMMANDS])("readCommand() accepts %s", (command) => {
    expect(readCommand({ CNI_COMMAND: command })).toBe(command);
  });

  test("readCommand() treats an empty CNI_COMMAND as missing", () => {
    const e = caught(() => readCommand({ CNI_COMMAND: "" }));
    expect(e.code).toBe(4);
    expect(e.message).toBe("required env variables [CNI_COMMAND] missing");
  });

  test.each(["FOO", "ADD ", " ADD", "ADD\n", "Add", "DELETE", "INIT"])("readCommand() rejects the unknown CNI_COMMAND %j with code 4 naming it", (command) => {
    const e = caught(() => readCommand({ CNI_COMMAND: command }));
    expect(e.code).toBe(4);
    expect(e.message).toBe(`unknown CNI_COMMAND: ${JSON.stringify(command)}`);
    expect(e.details).toContain("ADD, DEL, CHECK, GC, STATUS, VERSION");
  });

  test("readInvocation() rejects an unknown CNI_COMMAND before looking at anything else", () => {
    const e = error({ ...full, CNI_COMMAND: "FOO", CNI_IFNAME: "bad name" });
    expect(e.code).toBe(4);
    expect(e.message).toMatch(/^unknown CNI_COMMAND/);
  });
});

describe("readInvocation() required variables", () => {
  test("readInvocation() reads every variable of ADD and splits CNI_PATH", () => {
    expect(readInvocation(full)).toEqual({ command: "ADD", containerId: "abc", netns: "/run/netns/x", ifname: "eth0", args: {}, path: ["/opt/cni/bin", "/usr/lib/cni"] });
  });

  test.each([
    ["ADD", "required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME] missing"],
    ["CHECK", "required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME] missing"],
    ["DEL", "required env variables [CNI_CONTAINERID,CNI_IFNAME] missing"],
    ["GC", "required env variables [CNI_PATH] missing"],
  ])("readInvocation() for %s names every missing variable at once", (command, msg) => {
    expect(error({ CNI_COMMAND: command })).toMatchObject({ code: 4, message: msg });
  });

  test.each([
    ["ADD", "CNI_CONTAINERID"],
    ["ADD", "CNI_NETNS"],
    ["ADD", "CNI_IFNAME"],
    ["CHECK", "CNI_CONTAINERID"],
    ["CHECK", "CNI_NETNS"],
    ["CHECK", "CNI_IFNAME"],
    ["DEL", "CNI_CONTAINERID"],
    ["DEL", "CNI_IFNAME"],
    ["GC", "CNI_PATH"],
  ])("readInvocation() for %s names just %s when only it is missing", (command, name) => {
    const env: Record<string, string | undefined> = { ...full, CNI_COMMAND: command };
    delete env[name];
    expect(error(env)).toMatchObject({ code: 4, message: `required env variables [${name}] missing` });
  });

  test("readInvocation() treats an empty required variable as missing", () => {
    expect(error({ ...full, CNI_CONTAINERID: "", CNI_IFNAME: "" })).toMatchObject({
      code: 4,
      message: "required env variables [CNI_CONTAINERID,CNI_IFNAME] missing",
    });
    expect(error({ ...full, CNI_NETNS: "" })).toMatchObject({ code: 4, message: "required env variables [CNI_NETNS] missing" });
  });

  test("readInvocation() does not require CNI_PATH for ADD, CHECK or DEL", () => {
    const { CNI_PATH: _unused, ...noPath } = full;
    for (const command of ["ADD", "CHECK", "DEL"]) {
      expect(readInvocation({ ...noPath, CNI_COMMAND: command }).path).toEqual([]);
    }
  });

  test("readInvocation() for DEL accepts an empty or missing CNI_NETNS", () => {
    expect(readInvocation({ ...full, CNI_COMMAND: "DEL", CNI_NETNS: "" }).netns).toBe("");
    const { CNI_NETNS: _unused, ...noNetns } = full;
    expect(readInvocation({ ...noNetns, CNI_COMMAND: "DEL" })).toMatchObject({ command: "DEL", netns: "", containerId: "abc", ifname: "eth0" });
  });

  test("readInvocation() for DEL with an empty CNI_NETNS still validates CNI_IFNAME", () => {
    expect(error({ ...full, CNI_COMMAND: "DEL", CNI_NETNS: "", CNI_IFNAME: "eth0\nx" })).toMatchObject({ code: 4, message: "invalid env variables [CNI_IFNAME]" });
  });

  test("readInvocation() for GC and STATUS ignores the empty attachment variables libcni sends", () => {
    const inv = readInvocation({ CNI_COMMAND: "GC", CNI_PATH: "/opt/cni/bin", CNI_CONTAINERID: "", CNI_NETNS: "", CNI_IFNAME: "" });
    expect(inv).toEqual({ command: "GC", containerId: "", netns: "", ifname: "", args: {}, path: ["/opt/cni/bin"] });
    expect(readInvocation({ CNI_COMMAND: "STATUS", CNI_CONTAINERID: "", CNI_NETNS: "", CNI_IFNAME: "" })).toEqual({
      command: "STATUS",
      containerId: "",
      netns: "",
      ifname: "",
      args: {},
      path: [],
    });
  });

  test("readInvocation() for GC and STATUS ignores attachment variables that would be invalid for ADD", () => {
    const junk = { CNI_CONTAINERID: "../etc", CNI_NETNS: "dummy", CNI_IFNAME: "not valid\n" };
    expect(readInvocation({ CNI_COMMAND: "GC", CNI_PATH: "/bin", ...junk })).toMatchObject({ containerId: "", netns: "", ifname: "" });
    expect(readInvocation({ CNI_COMMAND: "STATUS", ...junk })).toMatchObject({ containerId: "", netns: "", ifname: "" });
  });

  test("readInvocation() for STATUS requires nothing but CNI_COMMAND", () => {
    expect(readInvocation({ CNI_COMMAND: "STATUS" }).command).toBe("STATUS");
  });

  test("readInvocation() for VERSION ignores every other variable, CNI_ARGS included", () => {
    expect(readInvocation({ CNI_COMMAND: "VERSION", CNI_NETNS: "dummy", CNI_IFNAME: "dummy", CNI_PATH: "dummy", CNI_ARGS: "not a pair" })).toEqual({
      command: "VERSION",
      containerId: "",
      netns: "",
      ifname: "",
      args: {},
      path: [],
    });
  });

  test("readInvocation() drops empty CNI_PATH entries and keeps the order", () => {
    expect(readInvocation({ ...full, CNI_PATH: ":/a::/b:" }).path).toEqual(["/a", "/b"]);
  });
});

describe("readInvocation() invalid values", () => {
  test.each([
    [{ CNI_IFNAME: "eth0\nlink del lo" }, "CNI_IFNAME"],
    [{ CNI_IFNAME: "eth0\n" }, "CNI_IFNAME"],
    [{ CNI_IFNAME: "eth0 up" }, "CNI_IFNAME"],
    [{ CNI_IFNAME: "eth\t0" }, "CNI_IFNAME"],
    [{ CNI_IFNAME: "a".repeat(16) }, "CNI_IFNAME"],
    [{ CNI_IFNAME: "-eth0" }, "CNI_IFNAME"],
    [{ CNI_IFNAME: ".." }, "CNI_IFNAME"],
    [{ CNI_CONTAINERID: "../etc" }, "CNI_CONTAINERID"],
    [{ CNI_CONTAINERID: "a/b" }, "CNI_CONTAINERID"],
    [{ CNI_CONTAINERID: "abc\n" }, "CNI_CONTAINERID"],
    [{ CNI_CONTAINERID: "a b" }, "CNI_CONTAINERID"],
    [{ CNI_NETNS: "relative/path" }, "CNI_NETNS"],
    [{ CNI_NETNS: "/run/netns/../x" }, "CNI_NETNS"],
    [{ CNI_NETNS: "/run/netns/x\n" }, "CNI_NETNS"],
  ])("readInvocation() rejects %j with code 4 naming the variable", (bad, name) => {
    const e = error({ ...full, ...bad });
    expect(e.code).toBe(4);
    expect(e.message).toBe(`invalid env variables [${name}]`);
    expect(e.details).toContain(name);
  });

  test("readInvocation() puts the offending value and the problem in details", () => {
    const e = error({ ...full, CNI_CONTAINERID: "../etc" });
    expect(e.details).toBe('CNI_CONTAINERID "../etc" has invalid characters (allowed: letters, digits, _ . -, not first)');
    const f = error({ ...full, CNI_IFNAME: "eth0 up" });
    expect(f.details).toBe('CNI_IFNAME "eth0 up" contains / or : or whitespace');
  });

  test("readInvocation() names every invalid variable together", () => {
    expect(error({ ...full, CNI_IFNAME: "a/b", CNI_CONTAINERID: "-x" }).message).toBe("invalid env variables [CNI_CONTAINERID,CNI_IFNAME]");
    const all = error({ ...full, CNI_IFNAME: "a b", CNI_CONTAINERID: "../etc", CNI_NETNS: "netns" });
    expect(all.message).toBe("invalid env variables [CNI_CONTAINERID,CNI_IFNAME,CNI_NETNS]");
    expect(all.details).toContain("CNI_NETNS");
  });

  test("readInvocation() validates CHECK and DEL the same way as ADD", () => {
    for (const command of ["CHECK", "DEL"]) {
      expect(error({ ...full, CNI_COMMAND: command, CNI_IFNAME: "eth0 up" })).toMatchObject({ code: 4, message: "invalid env variables [CNI_IFNAME]" });
      expect(error({ ...full, CNI_COMMAND: command, CNI_CONTAINERID: "../etc" })).toMatchObject({ code: 4, message: "invalid env variables [CNI_CONTAINERID]" });
    }
  });
});

describe("CNI_ARGS", () => {
  test("parseCniArgs() keeps every pair, Kubernetes keys included", () => {
    expect(parseCniArgs("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;IP=10.0.0.5")).toEqual({
      IgnoreUnknown: "1",
      K8S_POD_NAMESPACE: "default",
      K8S_POD_NAME: "web-0",
      IP: "10.0.0.5",
    });
    expect(parseCniArgs("")).toEqual({});
    expect(parseCniArgs("A=1;")).toEqual({ A: "1" });
  });

  test("parseCniArgs() keeps the full Kubernetes set and unknown keys without complaint", () => {
    expect(
      parseCniArgs("IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns-abc;K8S_POD_INFRA_CONTAINER_ID=0123abcd;K8S_POD_UID=5e0f-11;SomethingElse=x"),
    ).toEqual({
      IgnoreUnknown: "1",
      K8S_POD_NAMESPACE: "kube-system",
      K8S_POD_NAME: "coredns-abc",
      K8S_POD_INFRA_CONTAINER_ID: "0123abcd",
      K8S_POD_UID: "5e0f-11",
      SomethingElse: "x",
    });
  });

  test("parseCniArgs() keeps an empty value and keys case-sensitively", () => {
    expect(parseCniArgs("MAC=;ip=1;IP=2")).toEqual({ MAC: "", ip: "1", IP: "2" });
  });

  test.each(["novalue", "a=b=c", "=x", "A=1;B", "A=1;=2", "IP=10.0.0.1=2"])("parseCniArgs() rejects the pair in %j with code 4", (text) => {
    expect(() => parseCniArgs(text)).toThrow(expect.objectContaining({ code: 4 }));
  });

  test("parseCniArgs() names CNI_ARGS and the bad pair in the message", () => {
    const e = caught(() => parseCniArgs("IgnoreUnknown=1;a=b=c"));
    expect(e.code).toBe(4);
    expect(e.message).toBe('CNI_ARGS: invalid pair "a=b=c"');
  });

  test("readInvocation() parses CNI_ARGS and keeps the K8S_POD_* keys", () => {
    const inv = readInvocation({ ...full, CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=pod;K8S_POD_UID=u1" });
    expect(inv.args).toEqual({ IgnoreUnknown: "1", K8S_POD_NAMESPACE: "ns", K8S_POD_NAME: "pod", K8S_POD_UID: "u1" });
  });

  test("readInvocation() rejects an invalid CNI_ARGS pair with code 4", () => {
    const e = error({ ...full, CNI_ARGS: "K8S_POD_NAME=pod;garbage" });
    expect(e.code).toBe(4);
    expect(e.message).toBe('CNI_ARGS: invalid pair "garbage"');
  });
});
