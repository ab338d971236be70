import { chmodSync, lstatSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DEFAULT_SOCKET } from "./protocol";

/** What keeps the server from starting (one line, said as is). */
export class ServeError extends Error {}

/** The directory `patchcord serve` owns by name: the default socket's. */
export const OWN_DIR = dirname(DEFAULT_SOCKET);

export interface DirStat {
  isDirectory: boolean;
  isSymbolicLink: boolean;
  uid: number;
  mode: number;
}

export type DirVerdict = { do: "create" } | { do: "keep" } | { do: "tighten"; from: number } | { do: "refuse"; why: string };

const octal = (mode: number): string => "0" + (mode & 0o7777).toString(8);

/**
 * What to do with the socket's directory. Only root may reach the socket, and only root may
 * replace it: the directory must be root's and 0700. A missing one is created so. An existing one
 * that is looser is tightened only when it is patchcord's own (/run/patchcord, whatever made it
 * first: a host-local dataDir under it, an earlier version); any other directory is refused rather
 * than changed, since it may be shared (`--socket /run/x.sock` must not make /run 0700).
 */
export function dirVerdict(dir: string, st: DirStat | undefined, ours: boolean): DirVerdict {
  if (!st) return { do: "create" };
  if (st.isSymbolicLink) return { do: "refuse", why: `${dir} is a symbolic link; the socket's directory must be a real directory` };
  if (!st.isDirectory) return { do: "refuse", why: `${dir} is not a directory` };
  if (st.uid !== 0) return { do: "refuse", why: `${dir} belongs to uid ${st.uid}; the socket's directory must be root's` };
  if ((st.mode & 0o077) === 0) return { do: "keep" };
  if (ours) return { do: "tighten", from: st.mode & 0o7777 };
  return {
    do: "refuse",
    why: `${dir} has mode ${octal(st.mode)}; the socket's directory must be 0700 (serve tightens only its own ${OWN_DIR}): use a directory of its own, e.g. mkdir -m 0700`,
  };
}

/** Makes the socket's directory as dirVerdict says; returns a line to log when it changed one. */
export function prepareSocketDir(dir: string): string | undefined {
  let st: DirStat | undefined;
  try {
    const s = lstatSync(dir);
    st = { isDirectory: s.isDirectory(), isSymbolicLink: s.isSymbolicLink(), uid: s.uid, mode: s.mode };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new ServeError(`cannot inspect ${dir}: ${(e as Error).message}`);
  }
  const verdict = dirVerdict(dir, st, dir === OWN_DIR);
  switch (verdict.do) {
    case "refuse":
      throw new ServeError(verdict.why);
    case "create":
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        chmodSync(dir, 0o700);
      } catch (e) {
        throw new ServeError(`cannot create ${dir}: ${(e as Error).message}`);
      }
      return undefined;
    case "tighten":
      chmodSync(dir, 0o700);
      return `${dir} had mode ${octal(verdict.from)}: now 0700`;
    case "keep":
      return undefined;
  }
}
