import { configuredMtu } from "./mtu";

test("configuredMtu(): 0 or absent keeps the default; below 68 is refused with code 7 naming the key", () => {
  expect(configuredMtu(undefined)).toBe(0);
  expect(configuredMtu(0)).toBe(0);
  expect(configuredMtu(68)).toBe(68);
  expect(configuredMtu(9000)).toBe(9000);
  expect(() => configuredMtu(67)).toThrow(expect.objectContaining({ code: 7, message: "mtu: 67 is below 68, the smallest MTU a link can have (0 keeps the default)" }));
});
