/** A network configuration list, as a runtime keeps it (a `.conflist` in its NETCONFPATH). */
export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: Record<string, unknown>[];
}
