import { fs } from "../../shared/lazy";
import { CniError, ErrorCode } from "../../shared/cni/errors";
import type { DNS } from "../../shared/cni/result";

/** resolv.conf text as a result's `dns`: nameserver, domain, search and options lines. */
export function parseResolvConf(text: string): DNS {
  const dns: DNS = {};
  for (const line of text.split("\n")) {
    const words = line.trim().split(/\s+/);
    if (words.length < 2 || words[0].startsWith("#") || words[0].startsWith(";")) continue;
    const [key, ...rest] = words;
    if (key === "nameserver") (dns.nameservers ??= []).push(rest[0]);
    else if (key === "domain") dns.domain = rest[0];
    else if (key === "search") (dns.search ??= []).push(...rest);
    else if (key === "options") (dns.options ??= []).push(...rest);
  }
  return dns;
}

export function readResolvConf(path: string): DNS {
  try {
    return parseResolvConf(fs().readFileSync(path, "utf8"));
  } catch (e) {
    throw new CniError(ErrorCode.IoFailure, `ipam.resolvConf: cannot read ${path}`, (e as Error).message);
  }
}
