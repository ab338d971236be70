import { ApiStatusError, type KubeNode, type NodeApi, type WatchEvent } from "./kube";
import { errorMessage, type Log } from "./log";

/**
 * The cluster's nodes, kept current by LIST then WATCH, one step at a time in one loop (so a LIST
 * and a watch event can never race over the cache):
 *
 *   LIST -> watch from its resourceVersion -> ... the watch ends:
 *     - the server closed it (timeoutSeconds):      watch again from the last resourceVersion
 *     - 410 Gone (ERROR event or HTTP 410):         LIST again
 *     - resync period over:                         LIST again (a watch that silently lost events
 *                                                   cannot leave the cache stale for longer)
 *     - nothing, not even a bookmark, for stallMs:  LIST again (a dead TCP peer sends no FIN)
 *     - any error (API server away, 5xx, 403...):   back off (exponential, jitter, capped), LIST again
 *
 * While the API server is away the cache keeps the last nodes seen: the agent keeps routes and
 * the conflist as they are and pods keep working. Loss and recovery are logged once each.
 */

export interface NodeWatcherOptions {
  api: NodeApi;
  log: Log;
  /** Called after the cache changed (never for an event that changed nothing). */
  onChange: (reason: string) => void;
  resyncMs: number;
  /** A watch silent for this long is restarted; default 2 x resync. */
  stallMs?: number;
  backoff?: { initialMs: number; maxMs: number };
  /** For tests: jitter source and clock. */
  random?: () => number;
  now?: () => number;
}

type WatchEnd = "ended" | "expired" | "resync" | "stall" | "stopped";

export const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 30_000 };
/** A watch the server ends sooner than this with nothing in it counts as a failure (no hot loop). */
const MIN_USEFUL_WATCH_MS = 1_000;

export class NodeWatcher {
  private readonly nodes = new Map<string, KubeNode>();
  private resourceVersion = "";
  private listed = false;
  private stopped = false;
  private running: Promise<void> | undefined;
  private current: AbortController | undefined;
  private wake: (() => void) | undefined;
  private connection: { state: "connecting" | "up" } | { state: "down"; since: number; lastError: string; attempts: number } = { state: "connecting" };
  private readonly stallMs: number;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(private readonly o: NodeWatcherOptions) {
    this.stallMs = o.stallMs ?? 2 * o.resyncMs;
    this.backoff = o.backoff ?? DEFAULT_BACKOFF;
    this.random = o.random ?? Math.random;
    this.now = o.now ?? Date.now;
  }

  /** True once a LIST has succeeded: before that the node list is unknown, not empty. */
  get synced(): boolean {
    return this.listed;
  }

  /** The last nodes seen, sorted by name. */
  list(): KubeNode[] {
    return [...this.nodes.keys()].sort().map((name) => this.nodes.get(name)!);
  }

  /** The resourceVersion the next watch starts from (the last event's or bookmark's). */
  get lastResourceVersion(): string {
    return this.resourceVersion;
  }

  get apiReachable(): boolean {
    return this.connection.state === "up";
  }

  start(): void {
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.abort("stopped");
    this.wake?.();
    await this.running;
  }

  private async loop(): Promise<void> {
    let failures = 0;
    let needList = true;
    while (!this.stopped) {
      let justListed = false;
      try {
        if (needList) {
          await this.relist();
          needList = false;
          justListed = true;
        }
        if (this.stopped) break;
        const started = this.now();
        const { end, events } = await this.watchOnce();
        if (end === "stopped") break;
        if (end === "expired" || end === "resync" || end === "stall") needList = true;
        if (end === "stall") this.o.log(`watch delivered nothing for ${seconds(this.stallMs)} (not even a bookmark): restarting it with a fresh LIST`);
        if (end === "expired") this.o.log(`watch resourceVersion ${this.resourceVersion} expired (410 Gone): relisting nodes`);
        // A watch that brought nothing (ended at once, or expired straight after its LIST) must
        // not make the loop spin: back off as after a failure.
        const useless = (end === "ended" && events === 0 && this.now() - started < MIN_USEFUL_WATCH_MS) || (end === "expired" && justListed && events === 1);
        if (useless) await this.sleep(this.delay(failures++));
        else failures = 0;
      } catch (e) {
        if (this.stopped) break;
        if (e instanceof ApiStatusError && e.statusCode === 410) {
          this.o.log(`watch resourceVersion ${this.resourceVersion} expired (HTTP 410): relisting nodes`);
          // Gone again straight after a fresh LIST: a confused server; do not spin on it.
          if (justListed) await this.sleep(this.delay(failures++));
          needList = true;
          continue;
        }
        this.markDown(e);
        needList = true;
        await this.sleep(this.delay(failures++));
      }
    }
  }

  /** Jittered backoff, 0.5..1 x min(max, initial x 2^failures): agents restarted together spread out. */
  private delay(failures: number): number {
    const ceiling = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** Math.min(failures, 30));
    return Math.round(ceiling * (0.5 + this.random() * 0.5));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    }).finally(() => (this.wake = undefined));
  }

  private async relist(): Promise<void> {
    const ac = new AbortController();
    this.current = ac;
    let listed;
    try {
      listed = await this.o.api.listNodes(ac.signal);
    } finally {
      this.current = undefined;
    }
    if (this.stopped) return;
    const before = new Map([...this.nodes].map(([name, node]) => [name, node.metadata?.resourceVersion]));
    this.nodes.clear();
    for (const node of listed.items) if (node.metadata?.name) this.nodes.set(node.metadata.name, node);
    this.resourceVersion = listed.resourceVersion;
    const first = !this.listed;
    this.listed = true;
    this.markUp(listed.items.length);
    const change = first ? `first LIST: ${this.nodes.size} node(s)` : describeDiff(before, this.nodes);
    if (change) this.o.onChange(change);
  }

  private async watchOnce(): Promise<{ end: WatchEnd; events: number }> {
    const ac = new AbortController();
    this.current = ac;
    let end: WatchEnd | undefined;
    let events = 0;
    const finish = (why: WatchEnd) => {
      end ??= why;
      ac.abort(why);
    };
    // The watch lives until the next resync at most; the stall timer restarts on every event.
    const resync = setTimeout(() => finish("resync"), this.o.resyncMs);
    let stall = setTimeout(() => finish("stall"), this.stallMs);
    const onEvent = (event: WatchEvent) => {
      events++;
      clearTimeout(stall);
      stall = setTimeout(() => finish("stall"), this.stallMs);
      if (this.apply(event) === "expired") finish("expired");
    };
    try {
      await this.o.api.watchNodes({ resourceVersion: this.resourceVersion, timeoutSeconds: Math.max(1, Math.ceil(this.stallMs / 1000)) }, onEvent, ac.signal);
      return { end: end ?? "ended", events };
    } catch (e) {
      if (this.stopped) return { end: "stopped", events };
      if (end) return { end, events };
      throw e;
    } finally {
      clearTimeout(resync);
      clearTimeout(stall);
      this.current = undefined;
    }
  }

  /** One watch event into the cache; throws for an ERROR event other than 410. */
  private apply(event: WatchEvent): "expired" | undefined {
    const object = (event.object ?? {}) as KubeNode & { code?: number; message?: string; reason?: string };
    const rv = object.metadata?.resourceVersion;
    switch (event.type) {
      case "BOOKMARK":
        if (rv) this.resourceVersion = rv;
        return undefined;
      case "ERROR":
        if (object.code === 410) return "expired";
        throw new ApiStatusError(object.code ?? 500, `watch ERROR event: ${object.message ?? object.reason ?? "no message"}`);
      case "ADDED":
      case "MODIFIED":
      case "DELETED": {
        const name = object.metadata?.name;
        if (rv) this.resourceVersion = rv;
        if (!name) return undefined;
        const known = this.nodes.get(name);
        if (event.type === "DELETED") {
          if (!known) return undefined;
          this.nodes.delete(name);
          this.o.onChange(`node ${name} deleted`);
          return undefined;
        }
        this.nodes.set(name, object);
        if (known?.metadata?.resourceVersion !== rv || !rv) this.o.onChange(`node ${name} ${known ? "changed" : "added"}`);
        return undefined;
      }
      default:
        return undefined;
    }
  }

  private markUp(nodes: number): void {
    const c = this.connection;
    if (c.state === "down") {
      this.o.log(`API server ${this.o.api.server} answers again after ${seconds(this.now() - c.since)} (${c.attempts} failed attempt(s)); ${nodes} node(s)`);
    } else if (c.state === "connecting") {
      this.o.log(`API server ${this.o.api.server}: listed ${nodes} node(s)`);
    }
    this.connection = { state: "up" };
  }

  private markDown(err: unknown): void {
    const message = errorMessage(err);
    const c = this.connection;
    if (c.state !== "down") {
      const was = c.state === "up" ? "lost the API server" : "cannot reach the API server";
      this.o.log(`${was} ${this.o.api.server}: ${message}; keeping routes and the conflist as they are, retrying with backoff (up to ${seconds(this.backoff.maxMs)})`);
      this.connection = { state: "down", since: this.now(), lastError: message, attempts: 1 };
      return;
    }
    c.attempts++;
    // A different failure (refused -> 403, say) is news; the same one again is not.
    if (message !== c.lastError) this.o.log(`API server ${this.o.api.server} still failing: ${message}`);
    c.lastError = message;
  }
}

function describeDiff(before: Map<string, string | undefined>, after: Map<string, KubeNode>): string {
  const added = [...after.keys()].filter((n) => !before.has(n));
  const deleted = [...before.keys()].filter((n) => !after.has(n));
  const changed = [...after.keys()].filter((n) => before.has(n) && before.get(n) !== after.get(n)!.metadata?.resourceVersion);
  const parts = [...(added.length ? [`added ${names(added)}`] : []), ...(changed.length ? [`changed ${names(changed)}`] : []), ...(deleted.length ? [`deleted ${names(deleted)}`] : [])];
  return parts.length ? `relist: node(s) ${parts.join(", ")}` : "";
}

const names = (list: string[]): string => (list.length <= 3 ? list.join(" ") : `${list.slice(0, 3).join(" ")} and ${list.length - 3} more`);

const seconds = (ms: number): string => `${ms >= 10_000 ? Math.round(ms / 1000) : Math.round(ms / 100) / 10} s`;
