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

/**
 * Absolute paths from the runtime (CNI_NETNS) or our own tools: no newline and no `..` component,
 * since such a path is not one a runtime makes and may be meant to lead elsewhere.
 */
export function absolutePathProblem(path: string): string | undefined {
  if (!path.startsWith("/")) return "must be an absolute path";
  if (/[\0\n\r]/.test(path)) return "contains a NUL or newline";
  if (path.split("/").includes("..")) return "contains a .. component";
  return undefined;
}

/**
 * Paths only the node's operator writes (the conflist's ipam.dataDir and resolvConf): accepted as
 * the reference accepts them (spaces, `..` components, any other character), but for what is
 * unsafe for us:
 * - a relative path: the reference resolves it against its working directory, which for us is the
 *   runtime's in exec mode and the resident server's in server mode: two stores, duplicate addresses;
 * - NUL: the system call would stop at it and use another path than the one written;
 * - other control characters (newline, ESC, ...): the path is written into the trace and explain's
 *   shell script, one command a line, where a newline would start a line of its own.
 */
export function operatorPathProblem(path: string): string | undefined {
  if (!path.startsWith("/")) return "must be an absolute path";
  if (/\0/.test(path)) return "contains a NUL byte";
  if (/[\x01-\x1f\x7f]/.test(path)) return "contains a control character (newline, tab, escape, ...)";
  return undefined;
}
