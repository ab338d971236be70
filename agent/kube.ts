import { existsSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import type * as K8s from "@kubernetes/client-node";

/**
 * API access: client-node's KubeConfig for where the API server is and who we are (in-cluster
 * service account, or a kubeconfig), CoreV1Api.listNode for the LIST, and a watch stream of our own.
 *
 * Why not client-node's transport: it sends every request through undici's fetch with an undici
 * Agent carrying the CA and client certificate. Bun, which compiles our binary, swaps `undici` for
 * its own fetch, which ignores that Agent: every request then fails TLS verification ("self signed
 * certificate"). So requests go through node:https (which Bun implements with TLS options) with the
 * TLS material and headers KubeConfig works out; CoreV1Api gets it as its HttpLibrary; client-node's
 * Watch cannot take one, hence `watchNodes` below.
 *
 * Token rotation: kubelet rewrites the projected service-account token long before it expires, and
 * the old one stays valid until then. In-cluster config authenticates with client-node's FileAuth,
 * which re-reads the token file when its copy is more than 60 s old; every request here asks
 * KubeConfig for its headers afresh, so a rotated token is in use within a minute.
 *
 * client-node is ESM and is required lazily: the unit tests (CommonJS under Jest) load this module
 * for the watch stream without it, and `agent --help`/`agent uninstall` never evaluate it.
 */

/** The parts of a v1 Node the agent reads (client-node's V1Node fits). */
export interface KubeNode {
  metadata?: { name?: string; resourceVersion?: string };
  spec?: { podCIDR?: string; podCIDRs?: string[] };
  status?: { addresses?: { type: string; address: string }[] };
}

export interface NodeList {
  items: KubeNode[];
  resourceVersion: string;
}

export interface WatchEvent {
  type: string;
  object: unknown;
}

export interface NodeApi {
  /** The API server URL, for log lines. */
  readonly server: string;
  /** All nodes (paged), and the resourceVersion to watch from. */
  listNodes(signal?: AbortSignal): Promise<NodeList>;
  /** Resolves when the server ends the stream, rejects on any error or when `signal` aborts. */
  watchNodes(query: WatchQuery, onEvent: (event: WatchEvent) => void, signal: AbortSignal): Promise<void>;
}

export interface WatchQuery {
  resourceVersion: string;
  /** The server ends the watch after this long, so no stream lives forever. */
  timeoutSeconds: number;
}

/** An HTTP answer other than success, with the API's Status message. */
export class ApiStatusError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiStatusError";
  }
}

/** The configuration cannot give us an API server: a usage problem, not a transient failure. */
export class KubeConfigError extends Error {}

const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/** A LIST that has not answered in this time is abandoned (a dead connection must not hang the loop). */
const LIST_TIMEOUT_MS = 30_000;
const LIST_PAGE = 500;

export interface KubeTarget {
  kubeconfig?: string;
  apiServer?: string;
}

export function connectKube(target: KubeTarget, env: NodeJS.ProcessEnv = process.env): NodeApi {
  checkTarget(target, env);
  const k8s = require("@kubernetes/client-node") as typeof K8s;
  const kc = loadConfig(k8s, target);
  const server = kc.getCurrentCluster()!.server;
  const tls = (): Promise<RequestOptions> => requestOptions(kc);
  let listSignal: AbortSignal | undefined;
  const core = new k8s.CoreV1Api(
    k8s.createConfiguration({
      baseServer: new k8s.ServerConfiguration(server, {}),
      authMethods: { default: kc },
      httpApi: k8s.wrapHttpLibrary({ send: (ctx) => sendRequest(k8s, ctx, tls, listSignal) }),
    }),
  );
  return {
    server,
    async listNodes(signal) {
      // The watcher lists one at a time; our HttpLibrary picks the signal up from here.
      listSignal = signal;
      try {
        return await listAllNodes();
      } finally {
        listSignal = undefined;
      }
    },
    async watchNodes(query, onEvent, signal) {
      const url = new URL(`${server.replace(/\/+$/, "")}/api/v1/nodes`);
      url.searchParams.set("watch", "true");
      url.searchParams.set("allowWatchBookmarks", "true");
      url.searchParams.set("resourceVersion", query.resourceVersion);
      url.searchParams.set("timeoutSeconds", String(query.timeoutSeconds));
      await watchStream(url, await tls(), onEvent, signal);
    },
  };

  async function listAllNodes(): Promise<NodeList> {
    const items: KubeNode[] = [];
    let resourceVersion = "";
    let _continue: string | undefined;
    do {
      const page = await core.listNode({ limit: LIST_PAGE, _continue }).catch((e: unknown) => {
        throw asStatusError(e);
      });
      items.push(...page.items);
      resourceVersion = page.metadata?.resourceVersion ?? "";
      _continue = page.metadata?._continue || undefined;
    } while (_continue);
    return { items, resourceVersion };
  }
}

/** What can be wrong before any client code is loaded: a missing file, not being in a cluster. */
export function checkTarget(target: KubeTarget, env: NodeJS.ProcessEnv): void {
  if (target.kubeconfig) {
    if (!existsSync(target.kubeconfig)) throw new KubeConfigError(`kubeconfig ${target.kubeconfig}: no such file`);
    return;
  }
  if (!existsSync(SERVICE_ACCOUNT_TOKEN)) throw new KubeConfigError(`not in a cluster (no ${SERVICE_ACCOUNT_TOKEN}); give --kubeconfig or KUBECONFIG`);
  if (!env.KUBERNETES_SERVICE_HOST && !target.apiServer) throw new KubeConfigError("in-cluster config needs KUBERNETES_SERVICE_HOST/PORT, or PATCHCORD_API_SERVER");
}

function loadConfig(k8s: typeof K8s, target: KubeTarget): K8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (target.kubeconfig) {
    try {
      kc.loadFromFile(target.kubeconfig);
    } catch (e) {
      throw new KubeConfigError(`kubeconfig ${target.kubeconfig}: ${(e as Error).message}`);
    }
    if (!kc.getCurrentCluster()) throw new KubeConfigError(`kubeconfig ${target.kubeconfig}: no current context with a cluster`);
  } else {
    // Without KUBERNETES_SERVICE_HOST the server is nonsense until the override (checked above) replaces it.
    kc.loadFromCluster();
  }
  if (target.apiServer) {
    // kind's nodes reach the API server directly before kube-proxy has made the Service VIP work.
    const current = kc.getCurrentCluster()!;
    kc.loadFromOptions({
      clusters: kc.clusters.map((c) => (c.name === current.name ? { ...c, server: target.apiServer! } : c)),
      users: kc.users,
      contexts: kc.contexts,
      currentContext: kc.currentContext,
    });
  }
  return kc;
}

type RequestOptions = https.RequestOptions & { headers: Record<string, string> };

/** CA, client certificate and Authorization for one request, from KubeConfig (token re-read when due). */
async function requestOptions(kc: K8s.KubeConfig): Promise<RequestOptions> {
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const { ca, cert, key, rejectUnauthorized, servername } = opts;
  // One connection per request (two per resync period): nothing to keep alive, nothing left open at exit.
  return { ca, cert, key, rejectUnauthorized, servername, agent: false, headers: { ...(opts.headers as Record<string, string>) } };
}

/** Opens a request; resolves with the response once its headers are in. */
function open(url: URL, options: RequestOptions, signal?: AbortSignal): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const transport = url.protocol === "http:" ? http : https;
    const req = transport.request(url, { ...options, method: "GET", headers: { accept: "application/json", ...options.headers } }, resolve);
    const onAbort = () => req.destroy(abortError(signal!));
    signal?.addEventListener("abort", onAbort, { once: true });
    req.on("error", (e) => {
      signal?.removeEventListener("abort", onAbort);
      reject(e);
    });
    req.on("close", () => signal?.removeEventListener("abort", onAbort));
    req.end();
  });
}

function abortError(signal: AbortSignal): Error {
  const reason = signal.reason;
  if (reason instanceof Error) return reason;
  const e = new Error(typeof reason === "string" ? reason : "aborted");
  e.name = "AbortError";
  return e;
}

/** Reads a whole body, at most `limit` bytes (an error body, a LIST page). */
function readBody(res: http.IncomingMessage, limit = 64 << 20): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) res.destroy(new Error(`response larger than ${limit} bytes`));
      else chunks.push(c);
    });
    res.on("end", () => resolve(Buffer.concat(chunks)));
    res.on("error", reject);
    res.on("aborted", () => reject(new Error("response aborted")));
  });
}

/** The Status an error answer carries, as an ApiStatusError. */
async function statusError(res: http.IncomingMessage): Promise<ApiStatusError> {
  const code = res.statusCode ?? 0;
  let message = http.STATUS_CODES[code] ?? "error";
  try {
    const body = (await readBody(res, 64 << 10)).toString("utf8");
    const status = JSON.parse(body) as { message?: string };
    if (status.message) message = status.message;
  } catch {
    // not a Status (a proxy's page, a cut connection): the reason phrase will do
  }
  return new ApiStatusError(code, `HTTP ${code}: ${message}`);
}

function asStatusError(e: unknown): unknown {
  const code = (e as { code?: unknown }).code;
  if (typeof code !== "number") return e;
  const body = (e as { body?: unknown }).body;
  let message = http.STATUS_CODES[code] ?? "error";
  try {
    const status = (typeof body === "string" ? JSON.parse(body) : body) as { message?: string };
    if (status?.message) message = status.message;
  } catch {
    // keep the reason phrase
  }
  return new ApiStatusError(code, `HTTP ${code}: ${message}`);
}

/** CoreV1Api's HttpLibrary: one GET through node:https with KubeConfig's TLS material. */
async function sendRequest(k8s: typeof K8s, ctx: K8s.RequestContext, tls: () => Promise<RequestOptions>, cancel?: AbortSignal): Promise<K8s.ResponseContext> {
  if (ctx.getHttpMethod() !== k8s.HttpMethod.GET) throw new Error(`the agent only reads from the API (got ${ctx.getHttpMethod()})`);
  const base = await tls();
  const signal = eitherSignal(AbortSignal.timeout(LIST_TIMEOUT_MS), cancel);
  const res = await open(new URL(ctx.getUrl()), { ...base, headers: { ...base.headers, ...ctx.getHeaders() } }, signal);
  const body = await readBodyUntil(res, signal);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
  return new k8s.ResponseContext(res.statusCode ?? 0, headers, { text: async () => body.toString("utf8"), binary: async () => body, stream: () => null });
}

/** Aborts when either does (AbortSignal.any, which not every runtime we build for has). */
function eitherSignal(a: AbortSignal, b: AbortSignal | undefined): AbortSignal {
  if (!b) return a;
  const both = new AbortController();
  const forward = (s: AbortSignal) => () => both.abort(s.reason);
  if (a.aborted || b.aborted) both.abort((a.aborted ? a : b).reason);
  a.addEventListener("abort", forward(a), { once: true });
  b.addEventListener("abort", forward(b), { once: true });
  return both.signal;
}

function readBodyUntil(res: http.IncomingMessage, signal: AbortSignal): Promise<Buffer> {
  const onAbort = () => res.destroy(abortError(signal));
  signal.addEventListener("abort", onAbort, { once: true });
  return readBody(res).finally(() => signal.removeEventListener("abort", onAbort));
}

/**
 * A watch: a long GET whose body is one JSON event per line. Resolves when the server ends it,
 * rejects with ApiStatusError for an error answer, with the abort reason when `signal` aborts.
 */
export async function watchStream(url: URL, options: RequestOptions, onEvent: (event: WatchEvent) => void, signal: AbortSignal): Promise<void> {
  const res = await open(url, options, signal);
  if (res.statusCode !== 200) throw await statusError(res);
  await new Promise<void>((resolve, reject) => {
    let pending = "";
    let finished = false;
    const finish = (err?: unknown) => {
      if (finished) return;
      finished = true;
      signal.removeEventListener("abort", onAbort);
      // Our own abort cuts the connection too: report the abort, not the cut.
      if (signal.aborted) reject(abortError(signal));
      else if (err) reject(err);
      else resolve();
    };
    const onAbort = () => {
      res.destroy();
      finish(abortError(signal));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line === "") continue;
        let event: WatchEvent;
        try {
          event = JSON.parse(line) as WatchEvent;
        } catch {
          res.destroy();
          return finish(new Error(`watch stream: not JSON: ${line.slice(0, 80)}`));
        }
        try {
          onEvent(event);
        } catch (e) {
          res.destroy();
          return finish(e);
        }
      }
    });
    res.on("end", () => finish());
    res.on("error", (e) => finish(e));
    // A connection cut mid-body: not a clean end, the caller must know the stream did not finish.
    res.on("aborted", () => finish(new Error("watch stream cut")));
    res.on("close", () => finish(res.complete ? undefined : new Error("watch stream cut")));
  });
}
