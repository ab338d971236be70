/**
 * A small stand-in for the Kubernetes API server, for cluster tests on a machine where no real one
 * can run. It serves what the node agent uses, in the real server's JSON: nodes (list, get, watch
 * with bookmarks, 410 Expired after compaction), bearer-token authentication, and RBAC taken from
 * the manifest we ship (./rbac.ts). Everything else answers the way the real server refuses it.
 *
 * It writes the in-cluster credential files (ca.crt, token, namespace) into opts.dir, so an agent
 * can load them with KubeConfig.loadFromCluster(prefix) or from the kubeconfig written next to them.
 */
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { isIP, Socket } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { forbiddenMessage, loadAuthorizer, requestAttributes } from "./rbac";

export const DEFAULT_SERVICE_ACCOUNT = "system:serviceaccount:kube-system:patchcord";
export const DEFAULT_MANIFEST = join(__dirname, "../../manifests/patchcord.yaml");

export interface ApiServerOptions {
  dir: string;
  host?: string;
  /** 0 (the default) picks a free port; resume() reuses whichever port was bound. */
  port?: number;
  manifest?: string;
  serviceAccount?: string;
  /** How often a watch that asked for bookmarks gets one. */
  bookmarkMs?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  /** undefined when the request carried no valid token. */
  user?: string;
  verb?: string;
  allowed: boolean;
  code: number;
}

export type Node = { metadata: { name: string; resourceVersion?: string; [k: string]: unknown }; [k: string]: unknown };

export interface ApiServer {
  url: string;
  host: string;
  port: number;
  caFile: string;
  tokenFile: string;
  kubeconfigFile: string;
  token: string;
  addNode(node: object): Node;
  updateNode(name: string, mutate: (n: Node) => void): Node;
  /** JSON merge patch (RFC 7386, as `kubectl patch --type merge`): objects merge, null deletes, arrays replace. */
  patchNode(name: string, patch: object): Node;
  deleteNode(name: string): void;
  nodes(): Node[];
  /** Stops listening and drops every open connection, watches included: the API server is away. */
  pause(): Promise<void>;
  /** Listens again on the same address and port. */
  resume(): Promise<void>;
  /** Forgets the event history: a watch from an older resourceVersion now gets 410 Expired. */
  compact(): void;
  requests: RecordedRequest[];
  stop(): Promise<void>;
}

type EventType = "ADDED" | "MODIFIED" | "DELETED";
interface HistoryEvent {
  rv: number;
  type: EventType;
  object: Node;
  /** The object before a MODIFIED, so a filtered watch can tell an object entering or leaving its selection. */
  old?: Node;
}
interface Watcher {
  matches: (n: Node) => boolean;
  send: (type: string, object: unknown) => void;
  end: () => void;
}

const run = promisify(execFile);
const clone = <T>(v: T): T => structuredClone(v);

/** A CA and a server certificate for `host` (and 127.0.0.1/localhost), made with the system's openssl. */
async function makeCertificates(dir: string, host: string): Promise<{ caFile: string; key: Buffer; cert: Buffer }> {
  const f = (name: string) => join(dir, name);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await run("openssl", ["req", "-x509", ...ec, "-keyout", f("ca.key"), "-out", f("ca.crt"), "-days", "2", "-subj", "/CN=patchcord-test-ca",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  await run("openssl", ["req", ...ec, "-keyout", f("server.key"), "-out", f("server.csr"), "-subj", "/CN=kube-apiserver"]);
  const sans = new Set(["IP:127.0.0.1", "DNS:localhost", "DNS:kubernetes.default.svc"]);
  if (host && host !== "0.0.0.0" && host !== "::") sans.add(isIP(host) ? `IP:${host}` : `DNS:${host}`);
  writeFileSync(f("server.ext"), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${[...sans].join(",")}\n`);
  await run("openssl", ["x509", "-req", "-in", f("server.csr"), "-CA", f("ca.crt"), "-CAkey", f("ca.key"), "-set_serial", `0x${randomBytes(8).toString("hex")}`,
    "-days", "2", "-extfile", f("server.ext"), "-out", f("server.crt")]);
  return { caFile: f("ca.crt"), key: readFileSync(f("server.key")), cert: readFileSync(f("server.crt")) };
}

function status(code: number, reason: string, message: string, details?: object) {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, ...(details ? { details } : {}), code };
}

/** RFC 7386 merge patch: `target` with `patch` applied, as a new value (`target` is left as it was). */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return clone(patch);
  const out: Record<string, unknown> = target && typeof target === "object" && !Array.isArray(target) ? { ...(target as object) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Label selectors: k=v, k==v, k!=v, k, !k, k in (a,b), k notin (a,b), comma-joined. */
export function labelMatcher(selector: string): (labels: Record<string, string>) => boolean {
  const terms = selector.split(/,(?![^(]*\))/).map((t) => t.trim()).filter(Boolean);
  const tests = terms.map((t): ((l: Record<string, string>) => boolean) => {
    let m: RegExpExecArray | null;
    if ((m = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(t))) {
      const [, k, op, list] = m;
      const set = list.split(",").map((s) => s.trim());
      return op === "in" ? (l) => k in l && set.includes(l[k]) : (l) => !(k in l) || !set.includes(l[k]);
    }
    if ((m = /^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(t))) {
      const [, k, op, v] = m;
      return op === "!=" ? (l) => l[k] !== v : (l) => l[k] === v;
    }
    if ((m = /^!\s*(\S+)$/.exec(t))) {
      const k = m[1];
      return (l) => !(k in l);
    }
    if (/^\S+$/.test(t)) return (l) => t in l;
    throw new Error(`unable to parse requirement: ${t}`);
  });
  return (labels) => tests.every((test) => test(labels));
}

/** Field selectors on the fields the real server indexes for nodes. */
export function fieldMatcher(selector: string): (n: Node) => boolean {
  const fields: Record<string, (n: Node) => string> = {
    "metadata.name": (n) => n.metadata.name,
    "spec.unschedulable": (n) => String(Boolean((n.spec as { unschedulable?: boolean } | undefined)?.unschedulable)),
  };
  const tests = selector.split(",").filter(Boolean).map((t) => {
    const m = /^([^!=]+)(==|=|!=)(.*)$/.exec(t.trim());
    if (!m) throw new Error(`invalid selector: '${t}'; can't understand '${t}'`);
    const [, field, op, v] = m;
    const get = fields[field];
    if (!get) throw new Error(`field label not supported: ${field}`);
    return (n: Node) => (get(n) === v) === (op !== "!=");
  });
  return (n) => tests.every((test) => test(n));
}

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const host = opts.host ?? "127.0.0.1";
  const user = opts.serviceAccount ?? DEFAULT_SERVICE_ACCOUNT;
  const authorizer = loadAuthorizer(opts.manifest ?? DEFAULT_MANIFEST, user);
  const bookmarkMs = opts.bookmarkMs ?? 3000;
  mkdirSync(opts.dir, { recursive: true });
  const { caFile, key, cert } = await makeCertificates(opts.dir, host);
  const token = randomBytes(24).toString("base64url");
  const tokenFile = join(opts.dir, "token");
  writeFileSync(tokenFile, token, { mode: 0o600 });
  writeFileSync(join(opts.dir, "namespace"), "kube-system");

  // Resource versions are one counter for the whole store, as etcd's revision is.
  let rv = 1000;
  let floor = rv;
  const store = new Map<string, Node>();
  let history: HistoryEvent[] = [];
  const watchers = new Set<Watcher>();
  const requests: RecordedRequest[] = [];

  const commit = (type: EventType, object: Node, old?: Node): Node => {
    rv += 1;
    object.metadata.resourceVersion = String(rv);
    if (type === "DELETED") store.delete(object.metadata.name);
    else store.set(object.metadata.name, object);
    const ev = { rv, type, object, old };
    history.push(ev);
    for (const w of watchers) deliver(w, ev);
    return clone(object);
  };

  const deliver = (w: Watcher, ev: HistoryEvent) => {
    const now = w.matches(ev.object);
    const before = ev.old ? w.matches(ev.old) : now;
    // An object entering or leaving a selector's view is ADDED or DELETED for that watch.
    if (now) w.send(before ? ev.type : "ADDED", ev.object);
    else if (before) w.send("DELETED", ev.object);
  };

  const listItem = (n: Node) => {
    const { kind: _k, apiVersion: _a, ...rest } = n;
    return rest;
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "https://x");
    const method = req.method ?? "GET";
    const record: RecordedRequest = { method, path: url.pathname, query: url.search.slice(1), allowed: false, code: 0 };
    track(req.socket);
    requests.push(record);
    const reply = (code: number, body: unknown) => {
      record.code = code;
      const text = typeof body === "string" ? body : JSON.stringify(body);
      res.writeHead(code, { "Content-Type": typeof body === "string" ? "text/plain; charset=utf-8" : "application/json", "Cache-Control": "no-cache, private" });
      res.end(text);
    };

    const auth = req.headers.authorization ?? "";
    const m = /^bearer\s+(\S+)$/i.exec(auth);
    if (m && m[1] === token) record.user = user;
    const publicPath = ["/version", "/healthz", "/livez", "/readyz"].includes(url.pathname);
    // Anonymous requests reach only the public paths (system:public-info-viewer); a wrong token never does.
    if (!record.user && !(publicPath && !auth)) return reply(401, status(401, "Unauthorized", "Unauthorized"));

    const attrs = requestAttributes(method, url.pathname, url.searchParams);
    if (!attrs) {
      record.allowed = true;
      return reply(...discovery(url.pathname));
    }
    record.verb = attrs.verb;
    if (!authorizer.allows(attrs)) {
      return reply(403, status(403, "Forbidden", forbiddenMessage(user, attrs), { ...(attrs.name ? { name: attrs.name } : {}), kind: attrs.resource }));
    }
    record.allowed = true;
    if (attrs.apiGroup !== "" || attrs.resource !== "nodes" || attrs.namespace || attrs.subresource) {
      return reply(404, status(404, "NotFound", "the server could not find the requested resource", {}));
    }
    if (!["get", "list", "watch"].includes(attrs.verb)) {
      return reply(405, status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {}));
    }

    let matches: (n: Node) => boolean;
    try {
      const labels = labelMatcher(url.searchParams.get("labelSelector") ?? "");
      const fields = fieldMatcher(url.searchParams.get("fieldSelector") ?? "");
      matches = (n) => labels((n.metadata.labels as Record<string, string> | undefined) ?? {}) && fields(n);
    } catch (e) {
      return reply(400, status(400, "BadRequest", (e as Error).message));
    }

    if (attrs.verb === "get") {
      const n = store.get(attrs.name!);
      return n ? reply(200, n) : reply(404, status(404, "NotFound", `nodes "${attrs.name}" not found`, { name: attrs.name, kind: "nodes" }));
    }
    if (attrs.verb === "list") {
      const items = [...store.values()].filter(matches).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
      return reply(200, { kind: "NodeList", apiVersion: "v1", metadata: { resourceVersion: String(rv) }, items: items.map(listItem) });
    }
    watch(url.searchParams, matches, record, res, attrs.name);
  };

  const watch = (q: URLSearchParams, selected: (n: Node) => boolean, record: RecordedRequest, res: ServerResponse, name?: string) => {
    const from = q.get("resourceVersion") ?? "";
    const matches = name ? (n: Node) => n.metadata.name === name && selected(n) : selected;
    if (from !== "" && !/^\d+$/.test(from)) {
      record.code = 400;
      res.writeHead(400, { "Content-Type": "application/json" });
      return res.end(JSON.stringify(status(400, "BadRequest", `resourceVersion: Invalid value: "${from}": strconv.ParseUint: parsing "${from}": invalid syntax`)));
    }
    record.code = 200;
    res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-cache, private" });
    res.flushHeaders();
    const timers: NodeJS.Timeout[] = [];
    const w: Watcher = {
      matches,
      send: (type, object) => {
        if (!res.destroyed && !res.writableEnded) res.write(`${JSON.stringify({ type, object })}\n`);
      },
      end: () => {
        watchers.delete(w);
        timers.forEach(clearTimeout);
        res.end();
      },
    };
    // A client gone mid-stream is not an error of ours.
    res.on("error", () => undefined);
    res.on("close", () => {
      watchers.delete(w);
      timers.forEach(clearTimeout);
    });
    // The real server starts a watch from "" or "0" with synthetic ADDED events for what exists now.
    if (from === "" || from === "0") {
      for (const n of [...store.values()].filter(matches)) w.send("ADDED", n);
    } else if (Number(from) < floor) {
      w.send("ERROR", status(410, "Expired", `too old resource version: ${from} (${floor})`));
      return w.end();
    } else {
      for (const ev of history) if (ev.rv > Number(from)) deliver(w, ev);
    }
    watchers.add(w);
    if (["true", "1"].includes(q.get("allowWatchBookmarks") ?? "")) {
      const tick = () => {
        w.send("BOOKMARK", { kind: "Node", apiVersion: "v1", metadata: { resourceVersion: String(rv) } });
        timers[0] = setTimeout(tick, bookmarkMs);
      };
      timers[0] = setTimeout(tick, bookmarkMs);
    }
    const timeout = Number(q.get("timeoutSeconds") ?? 0);
    if (timeout > 0) timers[1] = setTimeout(w.end, timeout * 1000);
  };

  const discovery = (path: string): [number, unknown] => {
    const address = `${host.includes(":") ? `[${host}]` : host}:${port}`;
    switch (path) {
      case "/version":
        return [200, { major: "1", minor: "33", gitVersion: "v1.33.1", gitCommit: "", gitTreeState: "clean", buildDate: "", goVersion: "", compiler: "gc", platform: "linux/amd64" }];
      case "/healthz":
      case "/livez":
      case "/readyz":
        return [200, "ok"];
      case "/api":
        return [200, { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: address }] }];
      case "/api/v1":
        return [200, { kind: "APIResourceList", groupVersion: "v1", resources: [
          { name: "nodes", singularName: "node", namespaced: false, kind: "Node", verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"], shortNames: ["no"] },
          { name: "nodes/status", singularName: "", namespaced: false, kind: "Node", verbs: ["get", "patch", "update"] },
        ] }];
      case "/apis":
        return [200, { kind: "APIGroupList", apiVersion: "v1", groups: [] }];
      default:
        return [404, status(404, "NotFound", "the server could not find the requested resource", {})];
    }
  };

  // Listening: one https.Server per listen, so pause()/resume() can drop everything and start afresh.
  let server: Server | undefined;
  let port = opts.port ?? 0;
  const sockets = new Set<Socket>();
  function track(sock: Socket) {
    if (sockets.has(sock)) return;
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
  }
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer({ key, cert }, handle);
      s.on("connection", track);
      s.once("error", reject);
      s.listen(port, host, () => {
        port = (s.address() as { port: number }).port;
        server = s;
        resolve();
      });
    });
  const close = async () => {
    const s = server;
    server = undefined;
    // Streams are cut, not ended: a client sees the connection drop as when the server dies.
    watchers.clear();
    if (!s) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeAllConnections?.();
    for (const sock of sockets) sock.destroy();
    sockets.clear();
    await closed;
  };
  await listen();

  const urlHost = host.includes(":") ? `[${host}]` : host;
  const api: ApiServer = {
    url: `https://${urlHost}:${port}`,
    host,
    port,
    caFile,
    tokenFile,
    kubeconfigFile: join(opts.dir, "kubeconfig"),
    token,
    requests,
    addNode(node) {
      const n = clone(node) as Node;
      const name = n.metadata?.name;
      if (!name) throw new Error("addNode: metadata.name is required");
      if (store.has(name)) throw new Error(`nodes "${name}" already exists`);
      n.kind = "Node";
      n.apiVersion = "v1";
      Object.assign(n.metadata, { uid: randomUUID(), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, "Z") });
      return commit("ADDED", n);
    },
    updateNode(name, mutate) {
      const old = store.get(name);
      if (!old) throw new Error(`nodes "${name}" not found`);
      const n = clone(old);
      mutate(n);
      // Server-owned fields stay the server's.
      const { uid, creationTimestamp, resourceVersion } = old.metadata;
      Object.assign(n, { kind: "Node", apiVersion: "v1" });
      Object.assign(n.metadata, { name, uid, creationTimestamp, resourceVersion });
      // A no-op update changes nothing, not even the resourceVersion, as in the real server.
      if (JSON.stringify(n) === JSON.stringify(old)) return clone(old);
      return commit("MODIFIED", n, old);
    },
    patchNode(name, patch) {
      return api.updateNode(name, (n) => {
        const merged = mergePatch(n, patch) as Node;
        for (const k of Object.keys(n)) delete n[k];
        Object.assign(n, merged);
      });
    },
    deleteNode(name) {
      const n = store.get(name);
      if (!n) throw new Error(`nodes "${name}" not found`);
      commit("DELETED", clone(n));
    },
    nodes: () => [...store.values()].map(clone),
    pause: close,
    async resume() {
      if (!server) await listen();
    },
    compact() {
      history = [];
      floor = rv;
    },
    stop: close,
  };
  writeFileSync(api.kubeconfigFile, kubeconfig(api.url, caFile, token));
  return api;
}

function kubeconfig(server: string, caFile: string, token: string): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "stand-in", cluster: { server, "certificate-authority": caFile } }],
    users: [{ name: "patchcord", user: { token } }],
    contexts: [{ name: "stand-in", context: { cluster: "stand-in", user: "patchcord", namespace: "kube-system" } }],
    "current-context": "stand-in",
  }, null, 2);
}
