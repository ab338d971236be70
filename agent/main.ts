import { renderConflist, writeConflist } from "./conflist";
import { startHealthServer, type Check, type HealthServer } from "./health";
import { statSync } from "node:fs";
import { dirname } from "node:path";
import { ADDON_NAME, havePortmap, installPlugins, SHIM_NAME } from "./install";
import { connectKube, KubeConfigError, type NodeApi } from "./kube";
import { createLog, errorMessage, Notes, type Log } from "./log";
import { syncMasquerade } from "./masquerade";
import { writeAgentState } from "./state-file";
import { NodeWatcher } from "./node-watch";
import { parseAgentArgs, usage, type AgentOptions } from "./options";
import { describeReasons, reconcileOnce, ReconcileScheduler, type Effects } from "./reconcile";
import { syncRoutes } from "./routes";
import { uninstall } from "./uninstall";
import { uplinkMtu } from "./uplink";
import { listenForStop } from "../server/signals";

/**
 * `patchcord agent`: wires the node watcher, the reconcile scheduler, the resync timer and the
 * health server together, and takes them down again on SIGTERM/SIGINT. Stopping removes nothing:
 * a DaemonSet rollout restarts the agent and the node's pods must not notice.
 */

const EFFECTS: Effects = { installPlugins, havePortmap, renderConflist, writeConflist, syncRoutes, syncMasquerade, uplinkMtu, writeAgentState };

/** A burst of watch events within this window makes one reconcile. */
const SETTLE_MS = 50;

export interface AgentDeps {
  env?: NodeJS.ProcessEnv;
  log?: Log;
  effects?: Effects;
  /** For tests: the API instead of one built from the kubeconfig / in-cluster config. */
  api?: NodeApi;
  /** Resolves when the agent should stop; default: the first SIGTERM or SIGINT. */
  stopSignal?: Promise<string>;
  /** Called once the health server is up (tests learn the port). */
  onStarted?: (info: { healthAddress: string }) => void;
  /**
   * Starts the resident CNI server (server/serve.ts), handed in by the command line so that the
   * agent's bundle does not carry a second copy of the plugins. Absent: the agent serves nothing.
   */
  serve?: StartServer;
}

/** The resident server as the agent uses it: started once, stopped on the way out. */
export type StartServer = (o: { socket: string; log: Log }) => Promise<{ stop(): Promise<void> } | { busy: string }>;

export async function runAgent(args: string[], deps: AgentDeps = {}): Promise<number> {
  const env = deps.env ?? process.env;
  const log = deps.log ?? createLog();
  const parsed = parseAgentArgs(args, env);
  switch (parsed.command) {
    case "help":
      console.log(usage());
      return 0;
    case "error":
      console.error(`patchcord agent: ${parsed.message}`);
      return 2;
    case "uninstall":
      try {
        await uninstall({ binDir: parsed.options.cniBinDir, confDir: parsed.options.cniConfDir, ipamDataDir: parsed.options.ipamDataDir, log });
        return 0;
      } catch (e) {
        log(`uninstall failed: ${errorMessage(e)}`);
        return 1;
      }
    case "run":
      return runNodeAgent(parsed.options, deps, log);
  }
}

async function runNodeAgent(o: AgentOptions, deps: AgentDeps, log: Log): Promise<number> {
  // Listening from the start: a pod deleted while its agent starts gets a clean stop, not a kill.
  const stop = deps.stopSignal ? undefined : listenForStop();
  stop?.onRepeat(() => {
    log("second signal: exiting at once");
    process.exit(1);
  });
  let api: NodeApi;
  try {
    api = deps.api ?? connectKube({ kubeconfig: o.kubeconfig, apiServer: o.apiServer }, deps.env ?? process.env);
  } catch (e) {
    if (!(e instanceof KubeConfigError)) throw e;
    console.error(`patchcord agent: ${e.message}`);
    return 2;
  }
  const effects = deps.effects ?? EFFECTS;
  const notes = new Notes(log);
  const resyncMs = o.resyncSeconds * 1000;
  // The loop ticks at least once per resync; three missed ticks (and never under 10 s) is a hang.
  const liveLimitMs = Math.max(3 * resyncMs, 10_000);
  let lastTick = Date.now();
  let ready: Check = { ok: false, reason: "starting" };
  let readyOnce = false;

  log(
    `patchcord agent for node ${o.nodeName}: API ${api.server}, mode ${o.mode}, mtu ${o.mtu || "uplink"}, masquerade ${o.masquerade ? "on" : "off"}, ` +
      `bin ${o.cniBinDir}, conf ${o.cniConfDir}, ipam ${o.ipamDataDir}, resync ${o.resyncSeconds} s`,
  );

  const reconcileConfig = {
    nodeName: o.nodeName,
    mode: o.mode,
    mtu: o.mtu,
    masquerade: o.masquerade,
    clusterCIDRs: o.clusterCIDRs,
    binDir: o.cniBinDir,
    confDir: o.cniConfDir,
    dataDir: o.ipamDataDir,
    source: process.execPath,
    shim: fileBeside(process.execPath, SHIM_NAME),
    addon: fileBeside(process.execPath, ADDON_NAME),
  };
  const watcher = new NodeWatcher({ api, log, resyncMs, onChange: (reason) => scheduler.request(reason) });
  const scheduler = new ReconcileScheduler(
    async (reasons, install) => {
      try {
        const result = await reconcileOnce(watcher.synced ? watcher.list() : undefined, { install }, reconcileConfig, effects, log, notes);
        if (result.changes.length) log(`reconciled (${describeReasons(reasons)}): ${result.changes.join("; ")}`);
        ready = { ok: result.ready, reason: result.reason };
        if (result.ready && !readyOnce) {
          readyOnce = true;
          log(`ready after ${Math.round(process.uptime() * 1000)} ms`);
        }
      } catch (e) {
        ready = { ok: false, reason: `last reconcile failed: ${errorMessage(e)}` };
        throw e;
      } finally {
        lastTick = Date.now();
      }
    },
    { settleMs: SETTLE_MS, retry: { initialMs: 1000, maxMs: resyncMs }, log },
  );

  let health: HealthServer;
  try {
    health = await startHealthServer(
      o.health.host,
      o.health.port,
      {
        live: () => {
          const stuck = scheduler.runningSince !== undefined && Date.now() - scheduler.runningSince > liveLimitMs;
          if (stuck) return { ok: false, reason: `a reconcile has been running for ${Math.round((Date.now() - scheduler.runningSince!) / 1000)} s` };
          const quiet = Date.now() - lastTick;
          return quiet > liveLimitMs ? { ok: false, reason: `control loop has not ticked for ${Math.round(quiet / 1000)} s` } : { ok: true, reason: "ok" };
        },
        ready: () => ready,
      },
      log,
    );
  } catch (e) {
    log(`cannot serve health endpoints on ${o.health.host}:${o.health.port}: ${errorMessage(e)}`);
    return 1;
  }
  deps.onStarted?.({ healthAddress: health.address });
  const server = await startOwnServer(o.socket, deps.serve, log);

  // The resync: a fresh LIST happens in the watcher on the same period; this re-applies the
  // desired state (and re-installs the binaries) even when nothing changed or the API is away.
  const resync = setInterval(() => {
    if (scheduler.runningSince === undefined) lastTick = Date.now();
    scheduler.request("resync", true);
  }, resyncMs);
  watcher.start();
  scheduler.request("start", true, 0);

  const why = await (deps.stopSignal ?? stop!.stopped);
  log(`${why}: stopping (the conflist, binaries, routes and rules stay in place)`);
  clearInterval(resync);
  await Promise.all([watcher.stop(), health.close(), server?.stop()]);
  await scheduler.stop();
  log("stopped");
  return 0;
}

/** A file the build puts beside the binary (dist/bin, the image's bin dir), when it is there. */
function fileBeside(binary: string, name: string): string | undefined {
  const path = `${dirname(binary)}/${name}`;
  try {
    return statSync(path).isFile() ? path : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The agent serves CNI calls on its node unless told not to. A live server already on the socket
 * (a standalone `patchcord serve`, another agent) keeps it: the agent says so and carries on, and
 * the shims talk to that one. A server that cannot start at all is logged too: the shims then run
 * each plugin themselves, as on a node without a server.
 */
async function startOwnServer(socket: string | undefined, serve: StartServer | undefined, log: Log): Promise<{ stop(): Promise<void> } | undefined> {
  if (!socket) return undefined;
  if (!serve) {
    log(`no CNI server in this build: the shims run each plugin themselves`);
    return undefined;
  }
  try {
    const started = await serve({ socket, log });
    if ("busy" in started) {
      log(`not serving CNI calls on ${socket}: ${started.busy}; carrying on without a server of its own`);
      return undefined;
    }
    return started;
  } catch (e) {
    log(`cannot serve CNI calls on ${socket}: ${errorMessage(e)}; the shims run each plugin themselves`);
    return undefined;
  }
}
