import { pluginFor, pluginNames } from "./registry";

test("a plugin answers to its own name and to patchcord-<name>, nothing else", () => {
  for (const name of pluginNames()) {
    expect(pluginFor(name)).toBe(name);
    expect(pluginFor(`patchcord-${name}`)).toBe(name);
  }
  for (const other of ["patchcord", "patchcord-", "patchcord-ptp", "ptp", "patchcord-patchcord-bridge", "constructor", "patchcord-constructor", "__proto__"]) {
    expect(pluginFor(other)).toBeUndefined();
  }
});
