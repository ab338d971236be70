/**
 * How a daemon learns to stop. The listeners are installed at once and never removed: with no
 * listener left, SIGTERM's default action would kill the process, so a signal that arrives during
 * start-up, or a second one in the moment between the first and its handling, would skip the
 * clean stop. The first SIGTERM or SIGINT resolves `stopped`; each later one calls `onRepeat`.
 */
export function listenForStop(): { stopped: Promise<string>; onRepeat(handler: (signal: string) => void): void } {
  let first: ((signal: string) => void) | undefined;
  let repeat: (signal: string) => void = () => {};
  const stopped = new Promise<string>((resolve) => (first = resolve));
  let seen = false;
  const on = (signal: NodeJS.Signals) => {
    if (!seen) {
      seen = true;
      first!(signal);
    } else repeat(signal);
  };
  process.on("SIGTERM", on);
  process.on("SIGINT", on);
  return { stopped, onRepeat: (handler) => (repeat = handler) };
}
