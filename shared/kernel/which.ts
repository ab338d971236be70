import { fs } from "../lazy";

/** Where system tools usually live, searched after PATH (runtimes may start plugins with a short PATH). */
const SYSTEM_DIRS = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/** The path of an executable named `name`, or undefined when there is none. */
export function findExecutable(name: string, path = process.env.PATH ?? ""): string | undefined {
  for (const dir of [...path.split(":").filter(Boolean), ...SYSTEM_DIRS]) {
    try {
      fs().accessSync(`${dir}/${name}`, fs().constants.X_OK);
      return `${dir}/${name}`;
    } catch {
      // not here
    }
  }
  return undefined;
}
