/** The spec's well-known error codes (0-99) and the few we add (100+ are plugin-specific). */
export const ErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodingFailure: 6,
  InvalidNetworkConfig: 7,
  InvalidNetns: 8,
  TryAgainLater: 11,
  PluginNotAvailable: 50,
  LimitedConnectivity: 51,
  /** host-local: no free address left in a range set. */
  AddressesExhausted: 100,
  /** host-local: a requested or allocated address is already held by someone else. */
  AddressUnavailable: 101,
  /** A reservation, interface or rule that CHECK expected is missing. */
  CheckFailed: 102,
  /** A kernel command (`ip`, `sysctl`, netfilter) failed. */
  KernelOperationFailed: 103,
  /** A delegated plugin could not be found or run. */
  DelegateFailed: 104,
  /** Anything untyped: a bug or an unexpected system error. */
  Internal: 999,
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The one error type plugins throw; it becomes the spec's error JSON on stdout. */
export class CniError extends Error {
  constructor(
    readonly code: number,
    msg: string,
    readonly details?: string,
  ) {
    super(msg);
  }

  toJSON(cniVersion: string): Record<string, unknown> {
    const out: Record<string, unknown> = { cniVersion, code: this.code, msg: capped(this.message) };
    if (this.details) out.details = capped(this.details);
    return out;
  }
}
CniError.prototype.name = "CniError";

/** Longest msg or details we print: a message quoting a 10 MB input must not be 10 MB itself. */
export const MAX_MESSAGE = 4096;
export const capped = (text: string): string => (text.length <= MAX_MESSAGE ? text : `${text.slice(0, MAX_MESSAGE)}... (${text.length - MAX_MESSAGE} more characters)`);

export const isCniError = (e: unknown): e is CniError => e instanceof CniError;

/** Wraps anything thrown into a CniError; untyped errors become code 999 with the message kept. */
export function toCniError(e: unknown): CniError {
  if (isCniError(e)) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new CniError(ErrorCode.Internal, message);
}
