import { dirVerdict, OWN_DIR } from "./socket-dir";

const dir = (over: Partial<{ isDirectory: boolean; isSymbolicLink: boolean; uid: number; mode: number }> = {}) => ({
  isDirectory: true,
  isSymbolicLink: false,
  uid: 0,
  mode: 0o40700,
  ...over,
});

test("the default directory is /run/patchcord", () => {
  expect(OWN_DIR).toBe("/run/patchcord");
});

test("missing: created; root's and 0700: kept", () => {
  expect(dirVerdict("/run/patchcord", undefined, true)).toEqual({ do: "create" });
  expect(dirVerdict("/srv/pc", undefined, false)).toEqual({ do: "create" });
  expect(dirVerdict("/srv/pc", dir(), false)).toEqual({ do: "keep" });
  expect(dirVerdict("/srv/pc", dir({ mode: 0o40500 }), false)).toEqual({ do: "keep" });
});

test("looser: its own directory is tightened, any other refused (it may be shared, like /run)", () => {
  expect(dirVerdict("/run/patchcord", dir({ mode: 0o40755 }), true)).toEqual({ do: "tighten", from: 0o755 });
  expect(dirVerdict("/run/patchcord", dir({ mode: 0o41777 }), true)).toEqual({ do: "tighten", from: 0o1777 });
  const v = dirVerdict("/run", dir({ mode: 0o40755 }), false);
  expect(v).toEqual({ do: "refuse", why: expect.stringContaining("/run has mode 0755; the socket's directory must be 0700") });
  expect(dirVerdict("/tmp", dir({ mode: 0o41777 }), false)).toMatchObject({ do: "refuse" });
});

test("another owner, a symbolic link or a file: refused, even for its own directory", () => {
  expect(dirVerdict("/run/patchcord", dir({ uid: 1000 }), true)).toEqual({ do: "refuse", why: "/run/patchcord belongs to uid 1000; the socket's directory must be root's" });
  expect(dirVerdict("/run/patchcord", dir({ isSymbolicLink: true, isDirectory: false }), true)).toMatchObject({ do: "refuse", why: expect.stringContaining("symbolic link") });
  expect(dirVerdict("/run/patchcord", dir({ isDirectory: false }), true)).toMatchObject({ do: "refuse", why: "/run/patchcord is not a directory" });
});
