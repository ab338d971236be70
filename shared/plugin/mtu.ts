import { CniError, ErrorCode } from "../cni/errors";

/**
 * `mtu` as configured: 0 (or absent) leaves the kernel's default, as the reference plugins do; any
 * other value must be one a link can have, or the config is refused before anything is done.
 */
export function configuredMtu(mtu: number | undefined): number {
  if (mtu === undefined || mtu === 0) return 0;
  if (mtu < 68) throw new CniError(ErrorCode.InvalidNetworkConfig, `mtu: ${mtu} is below 68, the smallest MTU a link can have (0 keeps the default)`);
  return mtu;
}
