import type * as ChildProcess from "node:child_process";
import type { MiniFs } from "./sys/fs";
import { netlinkAvailable } from "./sys/syscalls";

/**
 * Built-ins loaded on first use. A compiled Bun binary pays about 4 ms to initialise node:fs and
 * about 5 ms for child_process (Bun 1.3 here, each alone), so modules call these instead of
 * importing them at the top; and where Bun's FFI is available the file functions are plain system
 * calls (shared/sys/fs.ts) and node:fs is never loaded. Under Node (jest) they are node:fs itself.
 */
let fsModule: MiniFs | undefined;
let childProcessModule: typeof ChildProcess | undefined;

export const fs = (): MiniFs => (fsModule ??= netlinkAvailable() ? (require("./sys/fs") as typeof import("./sys/fs")).syscallFs : (require("node:fs") as MiniFs));
export const childProcess = (): typeof ChildProcess => (childProcessModule ??= require("node:child_process") as typeof ChildProcess);

/** `dir/name` without node:path (which costs a compiled binary over a millisecond to load). */
export const joinPath = (dir: string, name: string): string => (dir === "" ? name : dir.endsWith("/") ? dir + name : `${dir}/${name}`);
