import { eachArg } from "../cli/args";
import { netlinkAvailable } from "../shared/sys/syscalls";
import { DEFAULT_SOCKET, SOCKET_ENV } from "./protocol";
import { ServeError, startServer } from "./server";
import { listenForStop } from "./signals";

const USAGE = [
  "patchcord serve [--socket PATH]: the resident CNI server; the shims hand it their calls, which it runs",
  `  warm, each as the plugin would run (--socket or ${SOCKET_ENV}, default ${DEFAULT_SOCKET}).`,
  "  Stops on SIGTERM or SIGINT, letting calls in flight finish. PATCHCORD_SERVER_LOG=requests logs every call.",
].join("\n");

/** `patchcord serve`: 0 after a clean stop, 1 when another server holds the socket or it cannot serve, 2 for usage or a runtime without the FFI. */
export async function runServe(args: string[], usage?: () => string): Promise<number> {
  const say = (line: string) => console.error(`patchcord serve: ${line}`);
  let socket = process.env[SOCKET_ENV] || DEFAULT_SOCKET;
  try {
    let help = false;
    eachArg(args, (a, value) => {
      if (a === "--socket") socket = value();
      else if (a.startsWith("--socket=")) socket = a.slice("--socket=".length);
      else if (a === "--help" || a === "-h") help = true;
      else throw new Error(`unknown argument ${JSON.stringify(a)}`);
    });
    if (help) {
      console.error(USAGE);
      return 0;
    }
  } catch (e) {
    console.error(`patchcord serve: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!netlinkAvailable()) {
    say("needs the Bun build's system calls (SO_PEERCRED, setns, flock), which this runtime lacks (the Node fallback build, or PATCHCORD_FFI=0)");
    return 2;
  }

  // Listening for the stop signals before the socket exists: a SIGTERM that arrives as soon as
  // the "serving" line is out (a supervisor, a test) must stop the server cleanly, not kill it.
  const stop = listenForStop();
  // A second signal (while calls finish, or while it starts): stop waiting.
  stop.onRepeat(() => {
    say("second signal: exiting without waiting for calls in flight");
    process.exit(1);
  });
  let server;
  try {
    server = await startServer({ socket, log: say, logRequests: process.env.PATCHCORD_SERVER_LOG === "requests", usage });
  } catch (e) {
    say(e instanceof ServeError ? e.message : `cannot serve on ${socket}: ${(e as Error).message}`);
    return 1;
  }
  if ("busy" in server) {
    say(`${server.busy}; not starting a second one`);
    return 1;
  }
  const running = server;
  // A stray rejection or exception (a plugin's promise nobody awaited) must not take down the
  // calls of everyone else: one line, and the server carries on.
  process.on("unhandledRejection", (e) => say(`unexpected error, serving on: ${e instanceof Error ? e.message : String(e)}`));
  process.on("uncaughtException", (e) => say(`unexpected error, serving on: ${e.message}`));
  const why = await stop.stopped;
  say(`${why}: stopping`);
  await running.stop();
  say("stopped");
  return 0;
}
