import { fnv1a64, hexBytes, randomBytesWeak } from "../hash";

/** The host end's name: stable for (container, ifname), so DEL and CHECK find it without the netns. */
export function hostVethName(containerId: string, ifname: string): string {
  return "veth" + fnv1a64(`${containerId}/${ifname}`).slice(0, 11);
}

/** Whether a link's name is one hostVethName gives (the reference plugins' are veth + 8 hex digits). */
export const isHostVethName = (name: string): boolean => /^veth[0-9a-f]{11}$/.test(name);

/** A random unicast, locally administered MAC, as the kernel would pick. */
export function randomMac(): string {
  const b = randomBytesWeak(6);
  b[0] = (b[0] & 0xfe) | 0x02;
  return hexBytes(b, ":");
}
