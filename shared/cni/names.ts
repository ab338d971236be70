/**
 * Validators for every name that reaches a command line or a path. Each returns an error text, or
 * undefined when the value is safe; callers pick the CNI error code that fits where it came from.
 */

/** Container ids and network names: the spec's pattern, which also keeps them valid file names. */
const ID_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;

export function containerIdProblem(id: string): string | undefined {
  if (id === "") return "is empty";
  if (!ID_PATTERN.test(id)) return "has invalid characters (allowed: letters, digits, _ . -, not first)";
  if (id.length > 1024) return "is longer than 1024 characters";
  return undefined;
}

export function networkNameProblem(name: string): string | undefined {
  if (name === "") return "is empty";
  if (!ID_PATTERN.test(name)) return "has invalid characters (allowed: letters, digits, _ . -, not first)";
  if (name === "." || name === "..") return "is . or ..";
  if (Buffer.byteLength(name) > 255) return "is longer than 255 bytes";
  return undefined;
}

/** Linux's dev_valid_name(): 1-15 bytes, not . or .., no /, : or whitespace. */
export function interfaceNameProblem(name: string): string | undefined {
  if (name === "") return "is empty";
  if (Buffer.byteLength(name) > 15) return "is longer than 15 bytes";
  if (name === "." || name === "..") return "is . or ..";
  if (/[/:\s]/.test(name)) return "contains / or : or whitespace";
  // Printable ASCII only: a control byte or non-ASCII name cannot be told apart in `ip` output.
  if (!/^[\x21-\x7e]+$/.test(name)) return "contains non-printable or non-ASCII characters";
  // `ip` would read a leading dash as an option.
  if (name.startsWith("-")) return "starts with -";
  // `ip -batch` reads # as the start of a comment and strips quotes: the line would name another device.
  if (/[#"'\\]/.test(name)) return "contains # or a quote or backslash";
  return undefined;
}

/** Plugin type names (binaries looked up in CNI_PATH): a single path component. */
export function pluginTypeProblem(type: string): string | undefined {
  if (type === "") return "is empty";
  if (type === "." || type === "..") return "is . or ..";
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/.test(type)) return "must be a file name (letters, digits, _ . -)";
  return undefined;
}

/** Absolute paths without newlines or `..` components (netns paths, data dirs, log files). */
export function absolutePathProblem(path: string): string | undefined {
  if (!path.startsWith("/")) return "must be an absolute path";
  if (/[\0\n\r]/.test(path)) return "contains a NUL or newline";
  if (path.split("/").includes("..")) return "contains a .. component";
  return undefined;
}
