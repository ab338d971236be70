import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

/**
 * The layout is the architecture: `shared/` is what the plugins share and imports nothing above it;
 * the tools (cli, lab, explain, agent) import the core, never the other way round; and a plugin run
 * never evaluates the Kubernetes client (the agent is reached only through a lazy require).
 */
const ROOT = join(__dirname, "..");
const SOURCE = /\.ts$/;
const isTest = (f: string) => f.endsWith(".test.ts") || f.includes("test-helpers");

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((entry) => {
    const path = join(dir, entry);
    if (entry === "generated" || entry === "node_modules") return [];
    return statSync(join(ROOT, path)).isDirectory() ? sources(path) : SOURCE.test(entry) && !isTest(path) ? [path] : [];
  });
}

/** Module specifiers a file imports: static `import`/`export from` and, separately, `require(...)`. */
function specifiers(file: string): { static: string[]; lazy: string[] } {
  const text = readFileSync(join(ROOT, file), "utf8");
  const statics = [...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"/gm)].filter((m) => !/^\s*import\s+type\b/.test(m[0])).map((m) => m[1]);
  statics.push(...[...text.matchAll(/^\s*import\s+"([^"]+)"/gm)].map((m) => m[1]));
  const lazy = [...text.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]);
  return { static: statics, lazy };
}

/** The module file a relative specifier names; data files (package.json) are not modules. */
function resolveLocal(from: string, spec: string): string | undefined {
  if (!spec.startsWith(".") || spec.endsWith(".json")) return undefined;
  const base = relative(ROOT, resolve(ROOT, dirname(from), spec));
  return existsSync(join(ROOT, base + ".ts")) ? base + ".ts" : join(base, "index.ts");
}

test("shared/ imports nothing outside shared/ (no plugin, no tool)", () => {
  const offenders = sources("shared").flatMap((file) => {
    const { static: s, lazy } = specifiers(file);
    return [...s, ...lazy].map((spec) => [file, resolveLocal(file, spec)] as const).filter(([, target]) => target && !target.startsWith("shared/"));
  });
  expect(offenders).toEqual([]);
});

test("plugins import only shared/ and their own folder", () => {
  const offenders = sources("plugins").flatMap((file) => {
    const own = file.split("/").slice(0, 2).join("/") + "/";
    return specifiers(file)
      .static.map((spec) => [file, resolveLocal(file, spec)] as const)
      .filter(([, t]) => t && !t.startsWith("shared/") && !t.startsWith(own) && !t.startsWith("plugins/"));
  });
  expect(offenders).toEqual([]);
});

test("the plugin entry's static import graph reaches neither agent/ nor @kubernetes/client-node", () => {
  const seen = new Set<string>();
  const external = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of specifiers(file).static) {
      const local = resolveLocal(file, spec);
      if (local) visit(local);
      else if (!spec.startsWith(".")) external.add(spec);
    }
  };
  visit("cli/entry.ts");
  expect(seen.size).toBeGreaterThan(3); // the walk itself works: entry -> main -> plugins, versions...
  expect([...seen].filter((f) => f.startsWith("agent/"))).toEqual([]);
  expect([...external].filter((s) => s.startsWith("@kubernetes/"))).toEqual([]);
  // ...and the agent is there, through its loader: this test would pass vacuously if it moved.
  expect(specifiers("cli/main.ts").lazy).toContain("./agent-loader");
  expect(readFileSync(join(ROOT, "cli/agent-loader.ts"), "utf8")).toMatch(/\["\.\.", "agent", "main"\]/);
});
