import { CniError, ErrorCode } from "./errors";

/** One attachment a runtime still considers valid (spec 1.1 GC). */
export interface ValidAttachment {
  containerId: string;
  ifname: string;
}

/**
 * `cni.dev/valid-attachments` from a GC config (or `cni.dev/attachments`, its name in the 1.1.0
 * tag; libcni sends both). Undefined when neither key is present: then GC removes nothing. libcni
 * encodes an empty list as null, which means that no attachment is valid.
 */
export function validAttachments(raw: Record<string, unknown>): ValidAttachment[] | undefined {
  const key = ["cni.dev/valid-attachments", "cni.dev/attachments"].find((k) => k in raw);
  if (!key) return undefined;
  const list = raw[key];
  if (list === null) return [];
  if (!Array.isArray(list)) throw new CniError(ErrorCode.InvalidNetworkConfig, `${key}: must be a list`);
  return list.map((a, i) => {
    const o = a as Record<string, unknown>;
    if (typeof o?.containerID !== "string" || typeof o?.ifname !== "string") {
      throw new CniError(ErrorCode.InvalidNetworkConfig, `${key}[${i}]: must be {"containerID": string, "ifname": string}`);
    }
    return { containerId: o.containerID, ifname: o.ifname };
  });
}
