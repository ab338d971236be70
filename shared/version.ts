import pkg from "../package.json";

/** patchcord's release, as package.json says (inlined by the bundler). */
export const PATCHCORD_VERSION: string = pkg.version;

/** What the binary says it is (its usage line); the agent's uninstall knows our binaries by it. */
export const BINARY_TAGLINE = "CNI plugins as one multi-call binary";
