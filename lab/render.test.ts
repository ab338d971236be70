import { matrixLines, plain, sceneLines, summaryLine, table } from "./render";
import { parseLabArgs } from "./lab";
import { traceScript } from "./driver";
import type { SceneReport } from "./scene";

test("table() aligns columns by visible width, ignoring colour codes", () => {
  expect(table([["a", "bb", "c"], ["\x1b[1mdddd\x1b[0m", "e", "f"]])).toEqual(["a     bb  c", "\x1b[1mdddd\x1b[0m  e   f"]);
});

test("matrixLines(): a row per source, a column per destination, mismatches say what was expected", () => {
  const lines = matrixLines(
    [
      { from: "pod a", to: "pod b", address: "10.0.0.3", expected: true, seen: true },
      { from: "pod a", to: "outside", address: "192.0.2.2", expected: false, seen: false },
      { from: "pod b", to: "outside", address: "192.0.2.2", expected: true, seen: false },
    ],
    plain,
  );
  expect(lines).toEqual([
    "from \\ to  pod b    outside",
    "pod a      reaches  no reply (as expected)",
    "pod b      ·        no reply (expected a reply)",
  ]);
});

test("sceneLines() and summaryLine(): headline, lesson, steps, verdict", () => {
  const r: SceneReport = {
    number: 2,
    id: "routed",
    title: "The router",
    lesson: "The node routes.",
    status: "failed",
    reason: "boom",
    steps: [
      { kind: "setup", title: "a node", commands: ["ip netns add n", "nft -f - <<'EOF'\ntable ip t {}\nEOF"] },
      { kind: "plugin", title: "pod a", script: ["# veth-routed ADD", "ip link add x type veth peer name eth0"] },
      { kind: "evidence", title: "counters", lines: ["+1"] },
    ],
  };
  expect(sceneLines(r, plain)).toEqual([
    "2. The router",
    "  The node routes.",
    "",
    "  set up by the lab: a node",
    "    $ ip netns add n",
    "    $ nft -f - <<'EOF'",
    "      table ip t {}",
    "      EOF",
    "",
    "  what the plugins ran: pod a",
    "    # veth-routed ADD",
    "    ip link add x type veth peer name eth0",
    "",
    "  evidence: counters",
    "    +1",
    "",
    "  boom",
    "",
    "  => NOT as expected",
    "",
  ]);
  expect(summaryLine([r, { ...r, status: "passed" }, { ...r, status: "skipped" }], plain)).toBe("lab: 1 scene as expected, 1 not, 1 skipped");
  expect(summaryLine([{ ...r, status: "passed" }, { ...r, status: "passed" }], plain)).toBe("lab: 2 scenes as expected, 0 not, 0 skipped");
});

test("parseLabArgs(): scenes by number or name, --json turns colour off, unknown input is refused", () => {
  expect(parseLabArgs(["--scene", "1,nat", "--json"], true, {})).toEqual({ scenes: ["1", "nat"], json: true, colour: false, help: false });
  expect(parseLabArgs([], true, {}).colour).toBe(true);
  expect(parseLabArgs([], false, {}).colour).toBe(false);
  expect(parseLabArgs([], true, { NO_COLOR: "1" }).colour).toBe(false);
  expect(parseLabArgs(["--no-color"], true, {}).colour).toBe(false);
  expect(() => parseLabArgs(["--scene", "9"], false, {})).toThrow(/no scene "9"/);
  expect(() => parseLabArgs(["--scene"], false, {})).toThrow("--scene needs a value");
  expect(() => parseLabArgs(["--fast"], false, {})).toThrow('unknown argument "--fast"');
});

test("traceScript() keeps commands and comments, drops the timing lines", () => {
  expect(traceScript("# bridge ADD x\n# +12.5 ms\n# config read and validated\nip link set dev br0 up\n# +13.0 ms done\n")).toEqual(["# bridge ADD x", "ip link set dev br0 up"]);
});
