import { CniError, ErrorCode } from "./errors";
import { atLeast, requireSupportedVersion, SpecVersion } from "./versions";
import { parseIP, parsePrefix } from "../net/ip";

/**
 * Results are kept in the 1.x shape in memory and converted when read or printed. 0.3.0, 0.3.1 and
 * 0.4.0 share one shape (IPs carry `version`), as do 1.0.0 and 1.1.0 (no `version`, more optional
 * fields); converting 1.x to 0.x drops the 1.x-only interface fields.
 */
export interface Interface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface IPConfig {
  /** `ip/prefix` */
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

export interface Route {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface DNS {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface Result {
  cniVersion: SpecVersion;
  interfaces?: Interface[];
  ips?: IPConfig[];
  routes?: Route[];
  dns?: DNS;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function bad(where: string, what: string): never {
  throw new CniError(ErrorCode.DecodingFailure, `cannot parse result: ${where} ${what}`);
}

function optionalString(o: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") bad(`${where}.${key}`, "must be a string");
  return v;
}

function optionalInt(o: Record<string, unknown>, key: string, where: string, max = 0xffffffff): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  // Each such field is a 32-bit (scope: 8-bit) number to the kernel: a larger one would be cut to another.
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) bad(`${where}.${key}`, `must be an integer from 0 to ${max}`);
  return v;
}

function optionalStrings(o: Record<string, unknown>, key: string, where: string): string[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) bad(`${where}.${key}`, "must be a list of strings");
  return v as string[];
}

function parseDns(v: unknown): DNS | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) bad("dns", "must be an object");
  const dns: DNS = {
    nameservers: optionalStrings(v, "nameservers", "dns"),
    domain: optionalString(v, "domain", "dns"),
    search: optionalStrings(v, "search", "dns"),
    options: optionalStrings(v, "options", "dns"),
  };
  return dropUndefined(dns);
}

function dropUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

const isDnsEmpty = (d: DNS | undefined): boolean =>
  !d || (!d.nameservers?.length && !d.domain && !d.search?.length && !d.options?.length);

/**
 * Reads a result (a plugin's output or a `prevResult`) of any supported version. A result without
 * `cniVersion` is taken to be in `fallbackVersion`, as libcni does.
 */
export function parseResult(raw: unknown, fallbackVersion?: string): Result {
  if (!isObject(raw)) bad("result", "must be an object");
  // An empty cniVersion counts as missing, as in libcni.
  const version = requireSupportedVersion(raw.cniVersion === undefined || raw.cniVersion === "" ? fallbackVersion : raw.cniVersion);
  const legacy = !atLeast(version, "1.0.0");
  const list = (key: string): Record<string, unknown>[] => {
    const v = raw[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((e) => !isObject(e))) bad(key, "must be a list of objects");
    return v as Record<string, unknown>[];
  };
  const interfaces = list("interfaces").map((o, i) => {
    const where = `interfaces[${i}]`;
    const name = optionalString(o, "name", where);
    if (!name) bad(`${where}.name`, "is required");
    return dropUndefined<Interface>({
      name,
      mac: optionalString(o, "mac", where),
      mtu: optionalInt(o, "mtu", where),
      sandbox: optionalString(o, "sandbox", where),
      socketPath: optionalString(o, "socketPath", where),
      pciID: optionalString(o, "pciID", where),
    });
  });
  const ips = list("ips").map((o, i) => {
    const where = `ips[${i}]`;
    const address = optionalString(o, "address", where);
    const prefix = address === undefined ? undefined : parsePrefix(address);
    if (!address || !prefix) bad(`${where}.address`, `must be an address with prefix, got ${JSON.stringify(o.address)}`);
    if (legacy && o.version !== undefined && o.version !== String(prefix.ip.family)) {
      bad(`${where}.version`, `is ${JSON.stringify(o.version)} but the address is IPv${prefix.ip.family}`);
    }
    const gateway = optionalString(o, "gateway", where);
    if (gateway !== undefined && !parseIP(gateway)) bad(`${where}.gateway`, `must be an IP address, got ${JSON.stringify(gateway)}`);
    return dropUndefined<IPConfig>({ address, gateway, interface: optionalInt(o, "interface", where) });
  });
  const routes = list("routes").map((o, i) => {
    const where = `routes[${i}]`;
    const dst = optionalString(o, "dst", where);
    if (!dst || !parsePrefix(dst)) bad(`${where}.dst`, `must be a CIDR, got ${JSON.stringify(o.dst)}`);
    const gw = optionalString(o, "gw", where);
    if (gw !== undefined && !parseIP(gw)) bad(`${where}.gw`, `must be an IP address, got ${JSON.stringify(gw)}`);
    return dropUndefined<Route>({
      dst,
      gw,
      mtu: optionalInt(o, "mtu", where),
      advmss: optionalInt(o, "advmss", where),
      priority: optionalInt(o, "priority", where),
      table: optionalInt(o, "table", where),
      scope: optionalInt(o, "scope", where, 255),
    });
  });
  return dropUndefined<Result>({
    cniVersion: version,
    interfaces: interfaces.length ? interfaces : undefined,
    ips: ips.length ? ips : undefined,
    routes: routes.length ? routes : undefined,
    dns: parseDns(raw.dns),
  });
}

/** The result as JSON for `version`: shape, field set and label of that version. */
export function formatResult(result: Omit<Result, "cniVersion">, version: SpecVersion): Record<string, unknown> {
  const legacy = !atLeast(version, "1.0.0");
  const out: Record<string, unknown> = { cniVersion: version };
  if (result.interfaces?.length) {
    out.interfaces = result.interfaces.map((i) =>
      legacy ? dropUndefined({ name: i.name, mac: i.mac, sandbox: i.sandbox }) : dropUndefined({ ...i }),
    );
  }
  if (result.ips?.length) {
    out.ips = result.ips.map((ip) => {
      const base = dropUndefined({ address: ip.address, gateway: ip.gateway, interface: ip.interface });
      if (!legacy) return base;
      const family = parsePrefix(ip.address)?.ip.family ?? 4;
      return { version: String(family), ...base };
    });
  }
  if (result.routes?.length) out.routes = result.routes.map((r) => dropUndefined({ ...r }));
  if (!isDnsEmpty(result.dns)) out.dns = dropUndefined({ ...result.dns });
  else if (legacy) out.dns = {}; // Go's 0.x types always print `dns`.
  return out;
}

/** Converts a result to another supported version (both directions between 0.3.0 and 1.1.0). */
export function convertResult(result: Result, version: SpecVersion): Result {
  return parseResult(formatResult(result, version));
}
