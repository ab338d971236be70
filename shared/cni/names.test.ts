import { absolutePathProblem, containerIdProblem, interfaceNameProblem, networkNameProblem, operatorPathProblem, pluginTypeProblem } from "./names";

describe("interfaceNameProblem()", () => {
  test("interfaceNameProblem() accepts ordinary interface names", () => {
    for (const name of ["eth0", "a", "veth1234abcd", "cni0", "br-0", "eth0.100", "eth_1", "net1@x", "..."]) {
      expect(interfaceNameProblem(name)).toBeUndefined();
    }
  });

  test("interfaceNameProblem() accepts exactly 15 bytes and rejects 16", () => {
    expect(interfaceNameProblem("a".repeat(15))).toBeUndefined();
    expect(interfaceNameProblem("a".repeat(16))).toBe("is longer than 15 bytes");
    expect(interfaceNameProblem("a".repeat(100))).toBe("is longer than 15 bytes");
  });

  test("interfaceNameProblem() counts multi-byte UTF-8 characters in bytes, not characters", () => {
    // 8 characters, 16 bytes.
    expect("é".repeat(8).length).toBe(8);
    expect(interfaceNameProblem("é".repeat(8))).toBe("is longer than 15 bytes");
    // 15 characters, 17 bytes.
    expect(interfaceNameProblem("a".repeat(14) + "€")).toBe("is longer than 15 bytes");
    // 4 characters (one astral), 7 bytes: short enough but still refused as non-ASCII.
    expect(interfaceNameProblem("eth😀")).toBe("contains non-printable or non-ASCII characters");
  });

  test("interfaceNameProblem() rejects non-ASCII names that fit in 15 bytes", () => {
    expect(interfaceNameProblem("ethé")).toBe("contains non-printable or non-ASCII characters");
    expect(interfaceNameProblem("é".repeat(7))).toBe("contains non-printable or non-ASCII characters");
  });

  test("interfaceNameProblem() rejects control characters", () => {
    for (const name of ["eth\x000", "eth\x01", "eth\x1b[0m", "eth\x7f"]) {
      expect(interfaceNameProblem(name)).toBe("contains non-printable or non-ASCII characters");
    }
  });

  test("interfaceNameProblem() rejects the empty name", () => {
    expect(interfaceNameProblem("")).toBe("is empty");
  });

  test("interfaceNameProblem() rejects . and ..", () => {
    expect(interfaceNameProblem(".")).toBe("is . or ..");
    expect(interfaceNameProblem("..")).toBe("is . or ..");
  });

  test("interfaceNameProblem() rejects / and :", () => {
    expect(interfaceNameProblem("a/b")).toBe("contains / or : or whitespace");
    expect(interfaceNameProblem("/eth0")).toBe("contains / or : or whitespace");
    expect(interfaceNameProblem("../eth0")).toBe("contains / or : or whitespace");
    expect(interfaceNameProblem("eth0:1")).toBe("contains / or : or whitespace");
  });

  test("interfaceNameProblem() rejects space, tab, newline and carriage return", () => {
    for (const name of ["eth 0", " eth0", "eth0 ", "eth\t0", "eth0\n", "eth0\nlink", "eth\r0", "eth\v0", "eth\f0", "eth\u00a00"]) {
      expect(interfaceNameProblem(name)).toBe("contains / or : or whitespace");
    }
  });

  test("interfaceNameProblem() rejects a leading dash that `ip` would read as an option", () => {
    expect(interfaceNameProblem("-eth0")).toBe("starts with -");
    expect(interfaceNameProblem("-force")).toBe("starts with -");
    expect(interfaceNameProblem("-")).toBe("starts with -");
    expect(interfaceNameProblem("eth-0")).toBeUndefined();
  });
});

describe("containerIdProblem()", () => {
  test("containerIdProblem() accepts runtime-style ids", () => {
    for (const id of ["abc", "0", "a1b2c3", "f".repeat(64), "my_container.1-2", "A-B_C.D"]) {
      expect(containerIdProblem(id)).toBeUndefined();
    }
  });

  test("containerIdProblem() rejects the empty id", () => {
    expect(containerIdProblem("")).toBe("is empty");
  });

  test("containerIdProblem() rejects path traversal and separators", () => {
    for (const id of ["../x", "..", ".", "a/b", "/abs", "a/../b", "..\\x", "a\\b"]) {
      expect(containerIdProblem(id)).toMatch(/invalid characters/);
    }
  });

  test("containerIdProblem() rejects newlines, spaces and other injection characters", () => {
    for (const id of ["a\nb", "abc\n", "\nabc", "a b", "abc ", "a\tb", "a;b", "a$(id)", "a`id`", "a'b", 'a"b', "a\0b", "a:b", "a=b", "a*"]) {
      expect(containerIdProblem(id)).toMatch(/invalid characters/);
    }
  });

  test("containerIdProblem() requires a letter or digit first", () => {
    for (const id of ["-abc", ".abc", "_abc"]) expect(containerIdProblem(id)).toMatch(/invalid characters/);
  });

  test("containerIdProblem() rejects non-ASCII letters", () => {
    expect(containerIdProblem("café")).toMatch(/invalid characters/);
  });

  test("containerIdProblem() limits ids to 1024 characters", () => {
    expect(containerIdProblem("a".repeat(1024))).toBeUndefined();
    expect(containerIdProblem("a".repeat(1025))).toBe("is longer than 1024 characters");
  });
});

describe("networkNameProblem()", () => {
  test("networkNameProblem() accepts ordinary network names", () => {
    for (const name of ["mynet", "k8s-pod-network", "net_1.2", "0"]) expect(networkNameProblem(name)).toBeUndefined();
  });

  test("networkNameProblem() rejects the empty name", () => {
    expect(networkNameProblem("")).toBe("is empty");
  });

  test("networkNameProblem() rejects . and .. and path traversal", () => {
    for (const name of [".", "..", "../x", "../../etc/passwd", "a/b", "/etc", "x/.."]) {
      expect(networkNameProblem(name)).toBeDefined();
    }
  });

  test("networkNameProblem() rejects newlines, spaces and shell characters", () => {
    for (const name of ["a\nb", "net\n", "a b", " net", "a\tb", "a;b", "a|b", "a$b", "a\0b"]) {
      expect(networkNameProblem(name)).toMatch(/invalid characters/);
    }
  });

  test("networkNameProblem() requires a letter or digit first", () => {
    for (const name of ["-net", ".net", "_net"]) expect(networkNameProblem(name)).toMatch(/invalid characters/);
  });

  test("networkNameProblem() limits names to 255 bytes (a file name)", () => {
    expect(networkNameProblem("n".repeat(255))).toBeUndefined();
    expect(networkNameProblem("n".repeat(256))).toBe("is longer than 255 bytes");
  });
});

describe("pluginTypeProblem()", () => {
  test("pluginTypeProblem() accepts binary names", () => {
    for (const type of ["bridge", "host-local", "static", "my_plugin.v2", "dhcp"]) expect(pluginTypeProblem(type)).toBeUndefined();
  });

  test("pluginTypeProblem() rejects empty, . and ..", () => {
    expect(pluginTypeProblem("")).toBe("is empty");
    expect(pluginTypeProblem(".")).toBe("is . or ..");
    expect(pluginTypeProblem("..")).toBe("is . or ..");
  });

  test("pluginTypeProblem() rejects anything that is not a single path component", () => {
    for (const type of ["../bin/sh", "a/b", "/usr/bin/env", "./bridge", "bridge/", "-bridge", ".hidden"]) {
      expect(pluginTypeProblem(type)).toMatch(/must be a file name/);
    }
  });

  test("pluginTypeProblem() rejects whitespace and shell characters", () => {
    for (const type of ["a b", "bridge\n", "bridge;rm", "br$(x)", "bridge\0"]) {
      expect(pluginTypeProblem(type)).toMatch(/must be a file name/);
    }
  });
});

describe("absolutePathProblem()", () => {
  test("absolutePathProblem() accepts absolute netns and data paths", () => {
    for (const path of ["/", "/run/netns/cni-1234", "/proc/123/ns/net", "/var/lib/cni/networks/mynet", "/a/..b/c", "/a/b../c", "/a/.../b", "/a/./b", "/a b"]) {
      expect(absolutePathProblem(path)).toBeUndefined();
    }
  });

  test("absolutePathProblem() rejects relative and empty paths", () => {
    for (const path of ["", "run/netns/x", "./x", "../x", " /run/netns/x", "~/x"]) {
      expect(absolutePathProblem(path)).toBe("must be an absolute path");
    }
  });

  test("absolutePathProblem() rejects a .. component anywhere", () => {
    for (const path of ["/..", "/../etc", "/run/netns/../../etc/shadow", "/a/..", "/a/../", "/a//../b"]) {
      expect(absolutePathProblem(path)).toBe("contains a .. component");
    }
  });

  test("absolutePathProblem() rejects NUL, newline and carriage return", () => {
    for (const path of ["/run/netns/x\n", "/run/netns/x\nlink del eth0", "/a\rb", "/a\0b"]) {
      expect(absolutePathProblem(path)).toBe("contains a NUL or newline");
    }
  });
});

test.each(["eth0#x", "x#", "'eth0'", '"eth0"', "a\\b"])("interfaceNameProblem() rejects %j, which ip -batch would read as another name", (name) => {
  expect(interfaceNameProblem(name)).toBe("contains # or a quote or backslash");
});

describe("operatorPathProblem() (the conflist's paths: as lax as the reference, but for what is unsafe)", () => {
  test.each(["/", "/var/lib/../run/x", "/a b/c", "/a/./b/", "/run/ïpam", "/a//b", "/a/'q'#$(x)"])("accepts %j, as the reference host-local does", (path) => {
    expect(operatorPathProblem(path)).toBeUndefined();
  });

  test.each(["", "relative", "./x", "../x", " /x"])("rejects the relative path %j (exec mode and the server have other working directories)", (path) => {
    expect(operatorPathProblem(path)).toBe("must be an absolute path");
  });

  test("rejects NUL (the system call would use a shorter path) and other control characters", () => {
    expect(operatorPathProblem("/a\0b")).toBe("contains a NUL byte");
    for (const path of ["/a\nb", "/a\rb", "/a\tb", "/a\x1b[31mb", "/a\x7fb"]) expect(operatorPathProblem(path)).toMatch(/control character/);
  });

  test("the runtime's paths (CNI_NETNS) stay strict: .. is still refused there", () => {
    expect(absolutePathProblem("/run/netns/../x")).toBe("contains a .. component");
    expect(operatorPathProblem("/run/netns/../x")).toBeUndefined();
  });
});
