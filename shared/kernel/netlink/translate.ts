import { IP, parseIP, parsePrefix, Prefix } from "../../net/ip";

/**
 * The `ip` commands our planners write (shared/kernel/ops.ts and the plugins' plans), read back
 * into structured requests that the netlink backend sends as rtnetlink messages. Anything outside
 * this grammar yields undefined and the batch runs through `ip -batch` as before, so a command we
 * cannot translate is never half-understood.
 */

export type LinkKind = "veth" | "bridge" | "macvlan" | "ipvlan";

export interface PeerSpec {
  name: string;
  mtu?: number;
  mac?: string;
  netns?: string;
}

export type NlOp =
  | {
      op: "newlink";
      name: string;
      kind: LinkKind;
      /** Lower device (macvlan/ipvlan master). */
      link?: string;
      mtu?: number;
      mac?: string;
      master?: string;
      netns?: string;
      peer?: PeerSpec;
      mode?: number;
      flag?: number;
      vlanFiltering?: boolean;
    }
  | { op: "setlink"; name: string; mtu?: number; mac?: string; master?: string | null; up?: boolean; promisc?: boolean; hairpin?: boolean; isolated?: boolean }
  | { op: "dellink"; name: string }
  | { op: "addr"; action: "add" | "del" | "replace"; prefix: Prefix; dev: string; nodad: boolean }
  | { op: "route"; action: "add" | "del"; family: 4 | 6; dst?: Prefix; gw?: IP; dev?: string; scope?: number; src?: IP; metric?: number; table?: number };

/** linux/if_link.h: MACVLAN_MODE_*. */
export const MACVLAN_MODES: Record<string, number> = { private: 1, vepa: 2, bridge: 4, passthru: 8, source: 16 };
/** IPVLAN_MODE_* and IPVLAN_F_* (bridge is no flag). */
export const IPVLAN_MODES: Record<string, number> = { l2: 0, l3: 1, l3s: 2 };
export const IPVLAN_FLAGS: Record<string, number> = { bridge: 0, private: 1, vepa: 2 };
export const SCOPES: Record<string, number> = { global: 0, universe: 0, site: 200, link: 253, host: 254 };

const int = (s: string | undefined, min: number, max: number): number | undefined => {
  if (s === undefined || !/^[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return n >= min && n <= max ? n : undefined;
};
const onOff = (s: string | undefined): boolean | undefined => (s === "on" ? true : s === "off" ? false : undefined);

/** A cursor over argv that fails the whole translation on anything unexpected. */
class Words {
  private i = 0;
  constructor(private readonly argv: string[]) {}
  get done(): boolean {
    return this.i >= this.argv.length;
  }
  next(): string | undefined {
    return this.argv[this.i++];
  }
  peek(): string | undefined {
    return this.argv[this.i];
  }
}

class Untranslatable extends Error {}
const fail = (): never => {
  throw new Untranslatable();
};
const need = <T>(v: T | undefined): T => (v === undefined ? fail() : v);

/** `mtu N`, `address MAC`, `master DEV`, `netns PATH`: the link options before `type`. */
function linkOption(w: Words, word: string, into: { mtu?: number; mac?: string; master?: string; netns?: string }): boolean {
  if (word === "mtu") into.mtu = need(int(w.next(), 68, 65535));
  else if (word === "address") into.mac = need(w.next());
  else if (word === "master") into.master = need(w.next());
  else if (word === "netns") into.netns = need(w.next());
  else return false;
  return true;
}

function linkAdd(w: Words): NlOp {
  const o: Extract<NlOp, { op: "newlink" }> = { op: "newlink", name: "", kind: "veth" };
  for (let word = w.next(); word !== "type"; word = w.next()) {
    if (word === undefined) return fail();
    if (word === "link") o.link = need(w.next());
    else if (word === "name") o.name = need(w.next());
    else if (!linkOption(w, word, o)) {
      if (o.name) fail();
      o.name = word;
    }
  }
  const kind = w.next();
  if (!o.name) fail();
  if (kind === "veth") {
    if (w.next() !== "peer" || w.next() !== "name") fail();
    const peer: PeerSpec = { name: need(w.next()) };
    while (!w.done) {
      const word = need(w.next());
      const opts: { mtu?: number; mac?: string; master?: string; netns?: string } = {};
      if (!linkOption(w, word, opts) || opts.master !== undefined) fail();
      Object.assign(peer, opts);
    }
    return { ...o, kind, peer };
  }
  if (kind === "bridge") {
    while (!w.done) {
      if (w.next() !== "vlan_filtering") fail();
      o.vlanFiltering = need(int(w.next(), 0, 1)) === 1;
    }
    return { ...o, kind };
  }
  if (kind === "macvlan" || kind === "ipvlan") {
    if (!o.link || o.master) fail();
    if (w.next() !== "mode") fail();
    const mode = w.next() ?? "";
    o.mode = need(kind === "macvlan" ? MACVLAN_MODES[mode] : IPVLAN_MODES[mode]);
    if (kind === "ipvlan" && !w.done) o.flag = need(IPVLAN_FLAGS[w.next() ?? ""]);
    if (!w.done) fail();
    return { ...o, kind };
  }
  return fail();
}

function linkSet(w: Words): NlOp {
  if (w.next() !== "dev") fail();
  const o: Extract<NlOp, { op: "setlink" }> = { op: "setlink", name: need(w.next()) };
  while (!w.done) {
    const word = w.next();
    if (word === "up" || word === "down") o.up = word === "up";
    else if (word === "nomaster") o.master = null;
    else if (word === "promisc") o.promisc = need(onOff(w.next()));
    else if (word === "type") {
      if (w.next() !== "bridge_slave") fail();
      while (!w.done) {
        const key = w.next();
        if (key === "hairpin") o.hairpin = need(onOff(w.next()));
        else if (key === "isolated") o.isolated = need(onOff(w.next()));
        else fail();
      }
    } else {
      const opts: { mtu?: number; mac?: string; master?: string; netns?: string } = {};
      if (!linkOption(w, need(word), opts) || opts.netns !== undefined) fail();
      Object.assign(o, opts);
    }
  }
  return o;
}

function linkDel(w: Words): NlOp {
  if (w.peek() === "dev") w.next();
  const name = need(w.next());
  if (!w.done) fail();
  return { op: "dellink", name };
}

function addr(w: Words, action: string): NlOp {
  if (action !== "add" && action !== "del" && action !== "replace") return fail();
  const prefix = need(parsePrefix(need(w.next())));
  if (w.next() !== "dev") fail();
  const dev = need(w.next());
  let nodad = false;
  while (!w.done) {
    if (w.next() !== "nodad") fail();
    nodad = true;
  }
  return { op: "addr", action, prefix, dev, nodad };
}

function route(w: Words, action: string): NlOp {
  if (action !== "add" && action !== "del") return fail();
  const dstText = need(w.next());
  const o: Extract<NlOp, { op: "route" }> = { op: "route", action, family: 4 };
  if (dstText !== "default") {
    o.dst = need(parsePrefix(dstText));
    o.family = o.dst.ip.family;
  }
  while (!w.done) {
    const word = w.next();
    if (word === "via") o.gw = need(parseIP(need(w.next())));
    else if (word === "dev") o.dev = need(w.next());
    else if (word === "scope") o.scope = need(SCOPES[w.next() ?? ""]);
    else if (word === "src") o.src = need(parseIP(need(w.next())));
    else if (word === "metric") o.metric = need(int(w.next(), 0, 0xffffffff));
    else if (word === "table") o.table = need(int(w.next(), 1, 0xffffffff));
    else fail();
  }
  if (o.gw && !o.dst) o.family = o.gw.family;
  if ((o.gw && o.gw.family !== o.family) || (o.src && o.src.family !== o.family)) fail();
  // An IPv6 default route is written ::/0 (see ops.ts); treat it as "default" of family 6.
  if (o.dst && o.dst.bits === 0) o.dst = undefined;
  return o;
}

/** The structured request for one `ip` argv, or undefined when it is outside our grammar. */
export function translate(argv: string[]): NlOp | undefined {
  const w = new Words(argv);
  try {
    const object = w.next();
    const verb = w.next() ?? "";
    if (object === "link" && verb === "add") return linkAdd(w);
    if (object === "link" && verb === "set") return linkSet(w);
    if (object === "link" && verb === "del") return linkDel(w);
    if (object === "addr") return addr(w, verb);
    if (object === "route") return route(w, verb);
    return undefined;
  } catch (e) {
    if (e instanceof Untranslatable) return undefined;
    throw e;
  }
}
