// A named import: the bundler then inlines the one string instead of building the whole package.json
// object at every start (a few tenths of a millisecond in a compiled binary with the JIT off).
import { version } from "../package.json";

/** patchcord's release, as package.json says (inlined by the bundler). */
export const PATCHCORD_VERSION: string = version;

/** What the binary says it is (its usage line); the agent's uninstall knows our binaries by it. */
export const BINARY_TAGLINE = "CNI plugins as one multi-call binary";
