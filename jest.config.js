/**
 * Unit tests sit beside their modules; test/integration needs root and the built binaries;
 * test/kernel-features needs kernel features the CI kernel lacks and runs only inside a guest kernel
 * (scripts/test.mjs starts it there through scripts/kernel-run.sh, which sets PATCHCORD_GUEST).
 */
const inGuest = Boolean(process.env.PATCHCORD_GUEST);
module.exports = {
  testEnvironment: "node",
  transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] },
  moduleFileExtensions: ["ts", "js", "json"],
  testMatch: ["**/*.test.ts"],
  testPathIgnorePatterns: ["/node_modules/", "/dist/", ...(inGuest ? [] : ["/test/kernel-features/"])],
  ...(inGuest ? { roots: ["<rootDir>/test/kernel-features"], testTimeout: 300_000 } : {}),
};
