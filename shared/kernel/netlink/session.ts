import { fs } from "../../lazy";
import { encode, EncodeContext, getLinkByIndexRequest, getLinkRequest, dumpAddrRequest, dumpRouteRequest, dumpLinkRequest, setGroupRequest, deleteGroupRequest } from "./encode";
import { closeFd, errnoText, openRouteSocket, recv, send } from "../../sys/syscalls";
import { inNetns } from "../netns";
import type { NlOp } from "./translate";
import { attrString, attrU32, Message, NLMSG_DONE, NLMSG_ERROR, parseAttrs, parseError, parseMessages, RTM } from "./wire";
import { IFLA } from "./numbers";

const ENODEV = 19;

/** A kernel refusal, worded as `ip` words it so callers and people recognise it. */
export class NetlinkError extends Error {
  constructor(
    readonly errno: number,
    text: string,
  ) {
    super(text);
  }
}

const refusal = (errno: number, extra?: string): NetlinkError =>
  new NetlinkError(errno, `RTNETLINK answers: ${errnoText(errno)}${extra ? ` (${extra})` : ""}`);

/**
 * One rtnetlink socket in one network namespace: requests are sent one at a time and each waits
 * for its acknowledgement, so a failure names exactly the operation that failed.
 */
export class RouteSession implements EncodeContext {
  private readonly fd: number;
  private seq = Math.floor(Math.random() * 0x3fffffff);
  private readonly buf = new Uint8Array(64 * 1024);
  private readonly indexes = new Map<string, number>();
  private readonly names = new Map<number, string | undefined>();
  private readonly netnsFds = new Map<string, number>();

  constructor() {
    this.fd = openRouteSocket();
  }

  close(): void {
    closeFd(this.fd);
    for (const fd of this.netnsFds.values()) fs().closeSync(fd);
    this.netnsFds.clear();
  }

  /** Sends one request and returns its replies (up to the ACK, the error or the end of a dump). */
  private exchange(build: (seq: number) => Uint8Array, dump = false): Message[] {
    const seq = ++this.seq;
    send(this.fd, build(seq));
    const replies: Message[] = [];
    for (;;) {
      const n = recv(this.fd, this.buf);
      // A copy: replies outlive this buffer, which the next datagram of a dump overwrites.
      for (const m of parseMessages(this.buf.slice(0, n))) {
        if (m.seq !== seq) continue;
        if (m.type === NLMSG_ERROR) {
          const { errno, text } = parseError(m);
          if (errno) throw refusal(errno, text);
          return replies;
        }
        if (m.type === NLMSG_DONE) return replies;
        replies.push(m);
        if (!dump) return replies;
      }
    }
  }

  /** Applies one operation; throws NetlinkError on refusal. */
  apply(op: NlOp): void {
    this.exchange((seq) => encode(op, seq, this));
    if (op.op === "dellink") this.indexes.delete(op.name);
  }

  /** The RTM_NEWLINK reply to a GETLINK, or undefined when there is no such link. */
  private maybeLink(build: (seq: number) => Uint8Array): Message | undefined {
    try {
      return this.exchange(build)[0];
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === ENODEV) return undefined;
      throw e;
    }
  }

  /** The link named `name` (RTM_NEWLINK message), or undefined. */
  link(name: string): Message | undefined {
    return this.maybeLink((seq) => getLinkRequest(seq, name));
  }

  /** The name of interface `index` here (looked up once), or undefined when there is none. */
  nameOf(index: number): string | undefined {
    if (!this.names.has(index)) {
      const m = this.maybeLink((seq) => getLinkByIndexRequest(seq, index));
      this.names.set(index, m && attrString(parseAttrs(m.body, 16).get(IFLA.IFNAME)));
    }
    return this.names.get(index);
  }

  /** Every address of the namespace (RTM_NEWADDR messages). */
  addresses(): Message[] {
    return this.exchange((seq) => dumpAddrRequest(seq), true).filter((m) => m.type === RTM.NEWADDR);
  }

  /** Every route of the namespace, all tables (RTM_NEWROUTE messages). */
  routes(): Message[] {
    return this.exchange((seq) => dumpRouteRequest(seq), true).filter((m) => m.type === RTM.NEWROUTE);
  }

  /** Every link of the namespace by name, with the interface group it is in. */
  linkGroups(): Map<string, number> {
    const groups = new Map<string, number>();
    for (const m of this.exchange((seq) => dumpLinkRequest(seq), true)) {
      if (m.type !== RTM.NEWLINK) continue;
      const attrs = parseAttrs(m.body, 16);
      const name = attrString(attrs.get(IFLA.IFNAME));
      if (name !== undefined) groups.set(name, attrU32(attrs.get(IFLA.GROUP)) ?? 0);
    }
    return groups;
  }

  /** Puts link `name` into interface group `group`; throws as a deletion of it would when it is missing. */
  setGroup(name: string, group: number): void {
    this.exchange((seq) => setGroupRequest(seq, this.index(name), group));
  }

  /** Deletes every link of group `group` at once. */
  deleteGroup(group: number): void {
    this.exchange((seq) => deleteGroupRequest(seq, group));
    this.indexes.clear();
  }

  index(name: string): number {
    const known = this.indexes.get(name);
    if (known !== undefined) return known;
    const m = this.link(name);
    if (!m) throw new NetlinkError(ENODEV, `Cannot find device "${name}"`);
    const index = m.body.getInt32(4, true);
    this.indexes.set(name, index);
    return index;
  }

  netnsFd(path: string): number {
    let fd = this.netnsFds.get(path);
    if (fd === undefined) {
      fd = fs().openSync(path, "r");
      this.netnsFds.set(path, fd);
    }
    return fd;
  }
}

export { inNetns };

/** A session in `netns` (the host's when undefined) for the duration of `fn`. */
export function withSession<T>(netns: string | undefined, fn: (s: RouteSession) => T): T {
  const s = inNetns(netns, () => new RouteSession());
  try {
    return fn(s);
  } finally {
    s.close();
  }
}
