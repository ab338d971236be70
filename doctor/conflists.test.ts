import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configFiles, loadConfFile, lookAtConflists, neededPlugins } from "./conflists";
import { Look } from "./look";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "pc-doctor-conf-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const bridge = (name: string, extra: Record<string, unknown> = {}) => ({ cniVersion: "1.0.0", name, plugins: [{ type: "bridge", bridge: "cni0", ipam: { type: "host-local", subnet: "10.1.0.0/24" }, ...extra }] });
const write = (name: string, content: unknown) => writeFileSync(join(dir, name), typeof content === "string" ? content : JSON.stringify(content));

describe("the runtime's view of a conf dir", () => {
  test("libcni's extensions, sorted by name; directories and other files left out", () => {
    for (const n of ["20-b.conflist", "10-a.conf", "30-c.json", "05-readme.txt", "00-z.conflist.bak"]) write(n, "{}");
    mkdirSync(join(dir, "01-dir.conflist"));
    expect(configFiles(dir)!.map((p) => p.slice(dir.length + 1))).toEqual(["10-a.conf", "20-b.conflist", "30-c.json"]);
    expect(configFiles(join(dir, "missing"))).toBeUndefined();
  });

  test("a .conf is one plugin's config, made a list of one", () => {
    write("10-one.conf", { cniVersion: "1.0.0", name: "one", type: "bridge", ipam: { type: "host-local", subnet: "10.2.0.0/24" } });
    const f = loadConfFile(join(dir, "10-one.conf"));
    expect(f.problem).toBeUndefined();
    expect(f.list).toMatchObject({ name: "one", plugins: [{ type: "bridge" }] });
    expect(neededPlugins(f.list!)).toEqual(["bridge", "host-local"]);
  });

  test.each([
    ["not JSON", "{", /is not JSON/],
    ["not an object", "[1]", /is not a JSON object/],
    ["no name", { cniVersion: "1.0.0", plugins: [{ type: "bridge" }] }, /has no "name"/],
    ["no plugins", { cniVersion: "1.0.0", name: "x", plugins: [] }, /has no "plugins"/],
    ["a plugin without type", { cniVersion: "1.0.0", name: "x", plugins: [{}] }, /plugin 1 has no "type"/],
    ["an unknown version", { ...bridge("x"), cniVersion: "0.2.0" }, /cniVersion "0\.2\.0"/],
    ["a value our plugin refuses", bridge("x", { mtu: -1 }), /plugin 1 \(bridge\) refuses it/],
    ["a bad IPAM section", bridge("x", { ipam: { type: "host-local", subnet: "10.0.0.0/33" } }), /plugin 1 \(host-local\) refuses it|refuses it/],
  ])("%s is a problem", (_what, content, why) => {
    write("10-x.conflist", content);
    expect(loadConfFile(join(dir, "10-x.conflist")).problem).toMatch(why);
  });

  test("another CNI's plugin is not validated by ours, only looked for in the bin dir", () => {
    write("10-x.conflist", { cniVersion: "1.0.0", name: "x", plugins: [{ type: "calico", anything: { goes: true } }] });
    expect(loadConfFile(join(dir, "10-x.conflist")).problem).toBeUndefined();
  });

  test("findings: the first file is the pick; a broken later one is said to be not the pick; missing plugins per file", async () => {
    const bin = join(dir, "bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "bridge"), "#!/bin/sh\n");
    chmodSync(join(bin, "bridge"), 0o755);
    writeFileSync(join(bin, "host-local"), "not executable");
    const conf = join(dir, "net.d");
    mkdirSync(conf);
    writeFileSync(join(conf, "10-a.conflist"), JSON.stringify(bridge("a")));
    writeFileSync(join(conf, "20-b.conflist"), "{");
    const r = await lookAtConflists(new Look(), conf, [bin]);
    expect(r.picked?.path).toBe(join(conf, "10-a.conflist"));
    expect(r.findings.map((f) => [f.id, f.network])).toEqual([
      ["conflist-invalid", undefined],
      ["plugin-missing", "a"],
    ]);
    expect(r.findings[0].message).toContain("not the runtime's pick");
    expect(r.findings[1].message).toContain('"host-local"');
    expect(r.findings[1].evidence[0]).toMatchObject({ command: `ls -l ${join(bin, "host-local")}` });
  });

  test("conflist-none for an empty or missing dir, with the listing as evidence", async () => {
    const empty = await lookAtConflists(new Look(), dir, ["/nonexistent"]);
    expect(empty.findings.map((f) => f.id)).toEqual(["conflist-none"]);
    expect(empty.findings[0].evidence).toEqual([{ command: `ls -1 ${dir}`, output: "(no output)" }]);
    const missing = await lookAtConflists(new Look(), join(dir, "nope"), ["/nonexistent"]);
    expect(missing.findings[0].message).toContain("does not exist");
    expect(missing.findings[0].evidence[0].output).toContain("No such file or directory");
  });
});
