import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Log } from "./log";

/**
 * /healthz (liveness: is the control loop still turning?) and /readyz (is this node's networking
 * in place: conflist written, last reconcile succeeded?). 200 "ok" or 503 with a one-line reason,
 * as text, so a probe, curl or a test reads it alike.
 */

export interface Check {
  ok: boolean;
  reason: string;
}

export interface HealthSource {
  live(): Check;
  ready(): Check;
}

export interface HealthServer {
  /** `host:port` as bound (the real port when 0 was asked for). */
  address: string;
  port: number;
  close(): Promise<void>;
}

export async function startHealthServer(host: string, port: number, source: HealthSource, log: Log): Promise<HealthServer> {
  const server = createServer((req, res) => answer(req, res, source));
  // Probes come every few seconds; a kept-alive probe connection must not hold up shutdown.
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const address = `${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${bound.port}`;
  log(`health endpoints on http://${address}/healthz and /readyz`);
  return {
    address,
    port: bound.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}

function answer(req: IncomingMessage, res: ServerResponse, source: HealthSource): void {
  const path = (req.url ?? "/").split("?")[0];
  if (req.method !== "GET" && req.method !== "HEAD") return reply(res, 405, "method not allowed", req.method === "HEAD");
  let check: Check;
  try {
    if (path === "/healthz" || path === "/livez") check = source.live();
    else if (path === "/readyz") check = source.ready();
    else return reply(res, 404, "not found: try /healthz or /readyz", req.method === "HEAD");
  } catch (e) {
    check = { ok: false, reason: `check failed: ${(e as Error).message}` };
  }
  reply(res, check.ok ? 200 : 503, check.ok ? "ok" : check.reason, req.method === "HEAD");
}

function reply(res: ServerResponse, status: number, text: string, head: boolean): void {
  const body = `${text.replace(/[\r\n]+/g, " ")}\n`;
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(body), "cache-control": "no-store" });
  res.end(head ? undefined : body);
}
