import { fnv1a64, randomBytesWeak } from "./hash";

test("fnv1a64() matches the published FNV-1a 64 test vectors", () => {
  expect(fnv1a64("")).toBe("cbf29ce484222325");
  expect(fnv1a64("a")).toBe("af63dc4c8601ec8c");
  expect(fnv1a64("foobar")).toBe("85944171f73967e8");
});

test("randomBytesWeak() gives bytes", () => {
  const b = randomBytesWeak(64);
  expect(b).toHaveLength(64);
  expect(b.every((x) => Number.isInteger(x) && x >= 0 && x < 256)).toBe(true);
});
