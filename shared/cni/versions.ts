import { CniError, ErrorCode } from "./errors";

/** Spec versions whose configs and results we understand, oldest first. */
export const SUPPORTED_VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;
export type SpecVersion = (typeof SUPPORTED_VERSIONS)[number];
export const NEWEST_VERSION: SpecVersion = "1.1.0";

const parts = (v: string): number[] => v.split(".").map((p) => Number(p));

/** Orders dotted versions numerically; returns <0, 0 or >0. Non-numeric parts compare as NaN (0). */
export function compareVersions(a: string, b: string): number {
  const pa = parts(a);
  const pb = parts(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] || 0) - (pb[i] || 0);
    if (d !== 0) return d;
  }
  return 0;
}

export const isSupportedVersion = (v: unknown): v is SpecVersion =>
  typeof v === "string" && (SUPPORTED_VERSIONS as readonly string[]).includes(v);

export const atLeast = (v: string, min: string): boolean => compareVersions(v, min) >= 0;

/** The spec's gate: the config's version must be exactly one we support (code 1 otherwise). */
export function requireSupportedVersion(v: unknown): SpecVersion {
  if (isSupportedVersion(v)) return v;
  const shown = v === undefined ? "(none, which means 0.1.0)" : JSON.stringify(v);
  throw new CniError(
    ErrorCode.IncompatibleVersion,
    "incompatible CNI versions",
    `config is ${shown}, plugin supports ${JSON.stringify(SUPPORTED_VERSIONS)}`,
  );
}

/** Verbs newer than some spec versions: CHECK needs 0.4.0, GC and STATUS need 1.1.0. */
export function requireVerbAllowed(command: string, v: SpecVersion): void {
  const min = command === "CHECK" ? "0.4.0" : command === "GC" || command === "STATUS" ? "1.1.0" : undefined;
  if (min && !atLeast(v, min)) {
    throw new CniError(ErrorCode.IncompatibleVersion, `config version does not allow ${command}`, `config is "${v}", ${command} needs ${min} or newer`);
  }
}

/**
 * What a runtime does with a conflist's `cniVersion` and `cniVersions`: take the highest version
 * that both the list names and `supported` contains (undefined when there is none).
 */
export function negotiateVersion(
  conflist: { cniVersion?: unknown; cniVersions?: unknown },
  supported: readonly string[] = SUPPORTED_VERSIONS,
): string | undefined {
  const offered: string[] = [];
  if (typeof conflist.cniVersion === "string") offered.push(conflist.cniVersion);
  if (Array.isArray(conflist.cniVersions)) for (const v of conflist.cniVersions) if (typeof v === "string") offered.push(v);
  return offered.filter((v) => supported.includes(v)).sort(compareVersions).pop();
}

/**
 * The VERSION answer. libcni sends no stdin for VERSION, so it names our newest version rather
 * than echoing the caller's (as libcni's own plugin library does; either satisfies libcni).
 */
export const versionResponse = (): string => JSON.stringify({ cniVersion: NEWEST_VERSION, supportedVersions: SUPPORTED_VERSIONS });
