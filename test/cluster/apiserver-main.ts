/**
 * The stand-in API server as its own process, so a cluster test can run it inside a network
 * namespace:
 *
 *   ip netns exec LAN node_modules/@oven/bun-linux-x64/bin/bun test/cluster/apiserver-main.ts \
 *     --dir D --host 10.0.0.1 --port 6443 [--manifest M] [--bookmark-ms N]
 *
 * Control is one JSON object per line on stdin, one reply per line on stdout:
 *   {"id":1,"op":"addNode","node":{...}}          -> {"id":1,"ok":true,"node":{...}}
 *   {"id":2,"op":"patchNode","name":"n","patch":{...}}  (JSON merge patch, RFC 7386) -> node
 *   {"id":3,"op":"deleteNode","name":"n"}  nodes  pause  resume  compact  requests  stop
 *   failures                                       -> {"id":1,"ok":false,"error":"..."}
 * The first line, once listening: {"ready":true,"url":...,"caFile":...,"tokenFile":...,"kubeconfigFile":...}.
 * End of stdin stops the server too, so it never outlives a test that died.
 */
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { ApiServer, startApiServer } from "./apiserver";

type Command = { id?: number; op: string; node?: object; name?: string; patch?: object };

async function dispatch(api: ApiServer, c: Command): Promise<object> {
  switch (c.op) {
    case "addNode":
      return { node: api.addNode(c.node ?? {}) };
    case "patchNode":
      return { node: api.patchNode(c.name ?? "", c.patch ?? {}) };
    case "deleteNode":
      api.deleteNode(c.name ?? "");
      return {};
    case "nodes":
      return { nodes: api.nodes() };
    case "pause":
      await api.pause();
      return {};
    case "resume":
      await api.resume();
      return {};
    case "compact":
      api.compact();
      return {};
    case "requests":
      return { requests: api.requests };
    case "stop":
      await api.stop();
      return {};
    default:
      throw new Error(`unknown op: ${c.op}`);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "0" },
      manifest: { type: "string" },
      "bookmark-ms": { type: "string" },
    },
  });
  if (!values.dir) throw new Error("--dir is required");
  const api = await startApiServer({
    dir: values.dir,
    host: values.host,
    port: Number(values.port),
    manifest: values.manifest,
    bookmarkMs: values["bookmark-ms"] ? Number(values["bookmark-ms"]) : undefined,
  });
  const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
  say({ ready: true, url: api.url, host: api.host, port: api.port, caFile: api.caFile, tokenFile: api.tokenFile, kubeconfigFile: api.kubeconfigFile });

  const lines = createInterface({ input: process.stdin });
  // One command at a time, in order: a pause must be complete before the next command runs.
  let queue = Promise.resolve();
  lines.on("line", (line) => {
    if (!line.trim()) return;
    queue = queue.then(async () => {
      let c: Command | undefined;
      try {
        c = JSON.parse(line) as Command;
        say({ id: c.id, ok: true, ...(await dispatch(api, c)) });
        if (c.op === "stop") process.stdout.write("", () => process.exit(0));
      } catch (e) {
        say({ id: c?.id, ok: false, error: (e as Error).message });
      }
    });
  });
  lines.on("close", () => void queue.then(() => api.stop()).then(() => process.exit(0)));
}

main().catch((e) => {
  process.stderr.write(`apiserver-main: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
