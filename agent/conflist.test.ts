import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import type { Invocation } from "../shared/cni/env";
import { parseBridgeConfig } from "../plugins/bridge/config";
import { parseHostLocalConfig } from "../plugins/host-local/config";
import { parseVethRoutedConfig } from "../plugins/veth-routed/config";
import { CONFLIST_NAME, ConflistSpec, removeConflist, renderConflist, writeConflist } from "./conflist";

const inv: Invocation = { command: "ADD", containerId: "c1", netns: "/run/netns/p", ifname: "eth0", args: {}, path: [] };
const spec: ConflistSpec = { mode: "veth-routed", mtu: 1450, podCIDRs: ["10.244.1.0/24", "fd00:10:244:1::/64"], dataDir: "/run/cni-ipam-state", portmap: true };

/** Each plugin config the way the runtime hands it over: with the conflist's name and cniVersion. */
function pluginConfigs(text: string): Record<string, unknown>[] {
  const c = JSON.parse(text) as { name: string; cniVersion: string; plugins: Record<string, unknown>[] };
  return c.plugins.map((p) => ({ cniVersion: c.cniVersion, name: c.name, ...p }));
}

describe("renderConflist", () => {
  test("veth-routed, dual stack, with portmap: the exact bytes", () => {
    expect(renderConflist(spec)).toBe(
      JSON.stringify(
        {
          cniVersion: "1.0.0",
          name: "patchcord",
          plugins: [
            {
              type: "patchcord-veth-routed",
              ipMasq: false,
              mtu: 1450,
              ipam: {
                type: "patchcord-host-local",
                dataDir: "/run/cni-ipam-state",
                ranges: [[{ subnet: "10.244.1.0/24" }], [{ subnet: "fd00:10:244:1::/64" }]],
                routes: [{ dst: "0.0.0.0/0" }, { dst: "::/0" }],
              },
            },
            { type: "portmap", capabilities: { portMappings: true } },
          ],
        },
        null,
        2,
      ) + "\n",
    );
  });

  test("is stable: the same spec gives the same bytes, a changed one other bytes", () => {
    expect(renderConflist({ ...spec })).toBe(renderConflist(spec));
    expect(renderConflist({ ...spec, mtu: 1500 })).not.toBe(renderConflist(spec));
  });

  test("veth-routed config passes the plugin's and host-local's parsers (unknown keys are rejected there)", () => {
    const [main] = pluginConfigs(renderConflist(spec));
    expect(parseVethRoutedConfig(main, inv)).toMatchObject({ ipamType: "patchcord-host-local", ipMasq: false, mtu: 1450 });
    const hl = parseHostLocalConfig(main, inv);
    expect(hl.dataDir).toBe("/run/cni-ipam-state");
    expect(hl.rangeSets).toHaveLength(2);
    // The check is real: an extra key fails it.
    expect(() => parseVethRoutedConfig({ ...main, hairpinMode: true }, inv)).toThrow(/unsupported key/);
  });

  test("bridge mode passes the bridge parser, with its default name and hairpin", () => {
    const [main, portmap] = pluginConfigs(renderConflist({ ...spec, mode: "bridge", podCIDRs: ["10.244.1.0/24"], portmap: false }));
    expect(portmap).toBeUndefined();
    expect(parseBridgeConfig(main, inv)).toMatchObject({ bridge: "pc0", isGateway: true, hairpinMode: true, ipMasq: false, mtu: 1450, ipamType: "patchcord-host-local" });
    expect(parseHostLocalConfig(main, inv).rangeSets).toHaveLength(1);
    const [named] = pluginConfigs(renderConflist({ ...spec, mode: "bridge", bridgeName: "pods0" }));
    expect(parseBridgeConfig(named, inv).bridge).toBe("pods0");
  });

  test("mtu 0 leaves the key out (the kernel's default)", () => {
    const [main] = pluginConfigs(renderConflist({ ...spec, mtu: 0 }));
    expect(main).not.toHaveProperty("mtu");
  });

  test.each([
    [{ podCIDRs: [] }, /one or two/],
    [{ podCIDRs: ["10.244.1.0/24", "10.245.1.0/24"] }, /one family/],
    [{ podCIDRs: ["10.244.1.1/24"] }, /host bits/],
    [{ podCIDRs: ["10.244.1.0/33"] }, /not a CIDR/],
    [{ podCIDRs: ["10.244.1.0/24; rm -rf /"] }, /not a CIDR/],
    [{ mtu: 1000 }, /IPv6/],
    [{ mtu: 1.5 }, /MTU/],
    [{ dataDir: "relative/dir" }, /absolute/],
    [{ dataDir: "/var/../etc" }, /\.\./],
    [{ mode: "bridge", bridgeName: "way-too-long-bridge-name" }, /longer than 15/],
    [{ mode: "macvlan" }, /unknown mode/],
  ] as [Partial<ConflistSpec>, RegExp][])("rejects %j", (change, why) => {
    expect(() => renderConflist({ ...spec, ...change } as ConflistSpec)).toThrow(why);
  });
});

describe("writeConflist / removeConflist", () => {
  let dir: string;
  const lines: string[] = [];
  const log = (l: string) => lines.push(l);
  beforeEach(() => {
    dir = mkdtempSync(`${tmpdir()}/pc-conf-`);
    lines.length = 0;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test("writes once, then leaves an identical file alone (same inode and mtime), rewrites on change", async () => {
    const text = renderConflist(spec);
    expect(await writeConflist(dir, text, log)).toBe(true);
    expect(readFileSync(`${dir}/${CONFLIST_NAME}`, "utf8")).toBe(text);
    expect(statSync(`${dir}/${CONFLIST_NAME}`).mode & 0o777).toBe(0o644);
    const before = statSync(`${dir}/${CONFLIST_NAME}`);
    expect(await writeConflist(dir, text, log)).toBe(false);
    const after = statSync(`${dir}/${CONFLIST_NAME}`);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
    expect(lines).toHaveLength(1);
    const changed = renderConflist({ ...spec, mtu: 1400 });
    expect(await writeConflist(dir, changed, log)).toBe(true);
    expect(statSync(`${dir}/${CONFLIST_NAME}`).ino).not.toBe(before.ino);
    expect(readdirSync(dir)).toEqual([CONFLIST_NAME]);
  });

  test("creates a missing conf dir (a node whose runtime has not made it yet)", async () => {
    const nested = `${dir}/etc/cni/net.d`;
    expect(await writeConflist(nested, renderConflist(spec), log)).toBe(true);
    expect(readdirSync(nested)).toEqual([CONFLIST_NAME]);
    expect(lines[0]).toMatch(/created .*net\.d: it did not exist/);
  });

  test("refuses text a runtime could not load, and removes leftover temps of ours only", async () => {
    writeFileSync(`${dir}/.patchcord-conflist-0123456789ab.tmp`, "half");
    writeFileSync(`${dir}/.other.tmp`, "theirs");
    await expect(writeConflist(dir, "{not json", log)).rejects.toThrow(/not JSON/);
    await expect(writeConflist(dir, JSON.stringify({ name: "patchcord", plugins: [] }), log)).rejects.toThrow(/no plugins/);
    expect(await writeConflist(dir, renderConflist(spec), log)).toBe(true);
    expect(readdirSync(dir).sort()).toEqual([".other.tmp", CONFLIST_NAME]);
  });

  test("removes only a conflist whose network is ours, and is idempotent", async () => {
    writeFileSync(`${dir}/10-other.conflist`, "{}");
    writeFileSync(`${dir}/${CONFLIST_NAME}`, JSON.stringify({ name: "someone-else", plugins: [{ type: "x" }] }));
    expect(await removeConflist(dir, log)).toBe(false);
    expect(readdirSync(dir).sort()).toEqual([CONFLIST_NAME, "10-other.conflist"]);
    await writeConflist(dir, renderConflist(spec), log);
    expect(await removeConflist(dir, log)).toBe(true);
    expect(await removeConflist(dir, log)).toBe(false);
    expect(readdirSync(dir)).toEqual(["10-other.conflist"]);
  });
});
