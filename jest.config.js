/**
 * Unit tests sit beside their modules; test/integration needs root and the built binaries;
 * test/uml needs kernel features the CI kernel lacks and runs only inside User-Mode Linux
 * (scripts/test.mjs starts it there with PATCHCORD_IN_UML=1).
 */
const inUml = process.env.PATCHCORD_IN_UML === "1";
module.exports = {
  testEnvironment: "node",
  transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] },
  moduleFileExtensions: ["ts", "js", "json"],
  testMatch: ["**/*.test.ts"],
  testPathIgnorePatterns: ["/node_modules/", "/dist/", ...(inUml ? [] : ["/test/uml/"])],
  ...(inUml ? { roots: ["<rootDir>/test/uml"], testTimeout: 120_000 } : {}),
};
