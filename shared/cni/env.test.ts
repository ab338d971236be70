import { parseCniArgs, readCommand, readInvocation } from "./env";

const full = { CNI_COMMAND: "ADD", CNI_CONTAINERID: "abc", CNI_NETNS: "/run/netns/x", CNI_IFNAME: "eth0", CNI_PATH: "/opt/cni/bin:/usr/lib/cni" };
const error = (env: Record<string, string>) => {
  try {
    readInvocation(env);
  } catch (e) {
    return e as { code: number; message: string; details?: string };
  }
  throw new Error("expected an error");
};

test("readCommand() needs a known CNI_COMMAND (code 4)", () => {
  expect(readCommand({ CNI_COMMAND: "GC" })).toBe("GC");
  expect(() => readCommand({})).toThrow(expect.objectContaining({ code: 4, message: "required env variables [CNI_COMMAND] missing" }));
  expect(() => readCommand({ CNI_COMMAND: "add" })).toThrow(expect.objectContaining({ code: 4, message: 'unknown CNI_COMMAND: "add"' }));
});

describe("readInvocation()", () => {
  test("reads every variable of ADD and splits CNI_PATH", () => {
    expect(readInvocation(full)).toEqual({ command: "ADD", containerId: "abc", netns: "/run/netns/x", ifname: "eth0", args: {}, path: ["/opt/cni/bin", "/usr/lib/cni"] });
  });

  test.each([
    ["ADD", "required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME] missing"],
    ["CHECK", "required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME] missing"],
    ["DEL", "required env variables [CNI_CONTAINERID,CNI_IFNAME] missing"],
    ["GC", "required env variables [CNI_PATH] missing"],
  ])("%s names every missing variable at once", (command, msg) => {
    expect(error({ CNI_COMMAND: command })).toMatchObject({ code: 4, message: msg });
  });

  test("DEL accepts an empty CNI_NETNS (the runtime has no namespace any more)", () => {
    expect(readInvocation({ ...full, CNI_COMMAND: "DEL", CNI_NETNS: "" }).netns).toBe("");
  });

  test("GC and STATUS ignore the empty attachment variables libcni sends", () => {
    const inv = readInvocation({ CNI_COMMAND: "GC", CNI_PATH: "/opt/cni/bin", CNI_CONTAINERID: "", CNI_NETNS: "", CNI_IFNAME: "" });
    expect(inv).toMatchObject({ containerId: "", netns: "", ifname: "" });
    expect(readInvocation({ CNI_COMMAND: "STATUS" }).command).toBe("STATUS");
  });

  test.each([
    [{ CNI_IFNAME: "eth0\nlink del lo" }, "CNI_IFNAME"],
    [{ CNI_IFNAME: "eth0 up" }, "CNI_IFNAME"],
    [{ CNI_CONTAINERID: "../etc" }, "CNI_CONTAINERID"],
    [{ CNI_NETNS: "relative/path" }, "CNI_NETNS"],
    [{ CNI_NETNS: "/run/netns/../x" }, "CNI_NETNS"],
  ])("rejects %j with code 4 naming the variable", (bad, name) => {
    const e = error({ ...full, ...bad });
    expect(e.code).toBe(4);
    expect(e.message).toBe(`invalid env variables [${name}]`);
    expect(e.details).toContain(name);
  });

  test("names every invalid variable together", () => {
    expect(error({ ...full, CNI_IFNAME: "a/b", CNI_CONTAINERID: "-x" }).message).toBe("invalid env variables [CNI_CONTAINERID,CNI_IFNAME]");
  });
});

describe("parseCniArgs()", () => {
  test("keeps every pair, Kubernetes keys included", () => {
    expect(parseCniArgs("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;IP=10.0.0.5")).toEqual({
      IgnoreUnknown: "1",
      K8S_POD_NAMESPACE: "default",
      K8S_POD_NAME: "web-0",
      IP: "10.0.0.5",
    });
    expect(parseCniArgs("")).toEqual({});
    expect(parseCniArgs("A=1;")).toEqual({ A: "1" });
  });

  test.each(["novalue", "a=b=c", "=x"])("rejects the pair %j with code 4", (text) => {
    expect(() => parseCniArgs(text)).toThrow(expect.objectContaining({ code: 4 }));
  });
});
