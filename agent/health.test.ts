import { request } from "node:http";
import { startHealthServer, type Check, type HealthServer } from "./health";

function get(port: number, path: string, method = "GET"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("health server", () => {
  let server: HealthServer;
  let live: Check = { ok: true, reason: "ok" };
  let ready: Check = { ok: false, reason: "node a has no podCIDR yet" };
  const lines: string[] = [];

  beforeAll(async () => {
    server = await startHealthServer("127.0.0.1", 0, { live: () => live, ready: () => ready }, (l) => lines.push(l));
  });
  afterAll(() => server.close());

  test("port 0 binds a free port and the bound address is logged", () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.address).toBe(`127.0.0.1:${server.port}`);
    expect(lines).toEqual([`health endpoints on http://127.0.0.1:${server.port}/healthz and /readyz`]);
  });

  test("/healthz 200 while the loop is alive, 503 with the reason when not", async () => {
    expect(await get(server.port, "/healthz")).toEqual({ status: 200, body: "ok\n" });
    live = { ok: false, reason: "control loop has not ticked for 95 s" };
    expect(await get(server.port, "/healthz")).toEqual({ status: 503, body: "control loop has not ticked for 95 s\n" });
    live = { ok: true, reason: "ok" };
  });

  test("/readyz 503 with a one-line reason until ready, then 200", async () => {
    expect(await get(server.port, "/readyz")).toEqual({ status: 503, body: "node a has no podCIDR yet\n" });
    ready = { ok: false, reason: "last reconcile failed:\nline two" };
    expect(await get(server.port, "/readyz")).toEqual({ status: 503, body: "last reconcile failed: line two\n" });
    ready = { ok: true, reason: "ok" };
    expect(await get(server.port, "/readyz?verbose")).toEqual({ status: 200, body: "ok\n" });
  });

  test("HEAD works, other paths 404, other methods 405", async () => {
    expect(await get(server.port, "/readyz", "HEAD")).toEqual({ status: 200, body: "" });
    expect((await get(server.port, "/metrics")).status).toBe(404);
    expect((await get(server.port, "/healthz", "POST")).status).toBe(405);
  });

  test("an address in use is an error, not a crash", async () => {
    await expect(startHealthServer("127.0.0.1", server.port, { live: () => live, ready: () => ready }, () => {})).rejects.toThrow(/EADDRINUSE/);
  });
});
