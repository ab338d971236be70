import type * as FS from "node:fs";
import type * as ChildProcess from "node:child_process";

/**
 * Node built-ins loaded on first use. A compiled binary pays several milliseconds to initialise
 * `fs` or `child_process` (measured with Bun 1.3: about 5 ms each), which VERSION never needs; so
 * modules call these instead of importing the built-ins at the top.
 */
let fsModule: typeof FS | undefined;
let childProcessModule: typeof ChildProcess | undefined;

export const fs = (): typeof FS => (fsModule ??= require("node:fs") as typeof FS);
export const childProcess = (): typeof ChildProcess => (childProcessModule ??= require("node:child_process") as typeof ChildProcess);
