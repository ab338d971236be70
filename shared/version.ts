import pkg from "../package.json";

/** patchcord's release, as package.json says (inlined by the bundler). */
export const PATCHCORD_VERSION: string = pkg.version;
