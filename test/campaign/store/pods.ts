import { runCommand } from "../../../shared/kernel/run";

/**
 * Many pod namespaces at once (`ip -batch`: one process, not one per namespace), named
 * `<prefix><i>`. `remove()` deletes exactly these, also after a failure.
 */
export class PodSet {
  readonly names: string[];
  private created: string[] = [];

  constructor(prefix: string, count: number) {
    this.names = Array.from({ length: count }, (_, i) => `${prefix}${i}`);
  }

  path = (i: number): string => `/run/netns/${this.names[i]}`;

  async create(): Promise<void> {
    const r = await runCommand(["ip", "-force", "-batch", "-"], this.names.map((n) => `netns add ${n}\n`).join(""));
    this.created = [...this.names];
    if (r.code !== 0) throw new Error(`ip netns add (batch): ${r.stderr}`);
  }

  /** Deletes the namespaces whose index is in `which` (all by default). */
  async remove(which: number[] = this.names.map((_, i) => i)): Promise<void> {
    const gone = new Set(which.map((i) => this.names[i]));
    const mine = this.created.filter((n) => gone.has(n));
    if (!mine.length) return;
    await runCommand(["ip", "-force", "-batch", "-"], mine.map((n) => `netns del ${n}\n`).join(""));
    this.created = this.created.filter((n) => !gone.has(n));
  }
}

/**
 * Runs `jobs` so that they overlap, starting at most `launching` of them per `everyMs` (200
 * processes forked in the same millisecond on 2 cores only measure the scheduler), and resolves
 * with every job's outcome in order, together with how long the whole wave took.
 */
export async function wave<T>(jobs: (() => Promise<T>)[], launching = 25, everyMs = 10): Promise<{ results: T[]; ms: number }> {
  const start = performance.now();
  const running: Promise<T>[] = [];
  for (let i = 0; i < jobs.length; i += launching) {
    running.push(...jobs.slice(i, i + launching).map((j) => j()));
    if (i + launching < jobs.length) await new Promise((r) => setTimeout(r, everyMs));
  }
  const results = await Promise.all(running);
  return { results, ms: Math.round(performance.now() - start) };
}
