/**
 * When the server's calls run: those for the same attachment one after another, in the order they
 * arrived (a DEL never overtakes the ADD before it), others side by side, and never more than
 * `limit` at once. A job waiting here has cost its connection a hello and a request frame; its
 * stdin stays in the kernel's socket buffer until the job starts.
 *
 * The maps hold only waiting and running jobs: an attachment's entry goes with its last job.
 */
export interface Ticket {
  /** Withdraws a job that has not started (its client went away); no effect once it has. */
  cancel(): void;
}

type State = "queued" | "ready" | "running" | "done" | "cancelled";

interface Job {
  key: string | undefined;
  run: () => Promise<void>;
  state: State;
}

export class Scheduler {
  /** Per attachment, its jobs in arrival order; the first is ready or running, the rest queued. */
  private readonly queues = new Map<string, Job[]>();
  /** Jobs free to start as soon as a slot is, oldest first. */
  private ready: Job[] = [];
  private active = 0;

  /** `onFinish`: called after each job has ended (and the next ones have started). */
  constructor(
    readonly limit: number,
    private readonly onFinish: () => void = () => undefined,
  ) {
    if (!(limit >= 1)) throw new Error(`the limit of calls in flight must be at least 1, not ${limit}`);
  }

  /** Jobs running now. */
  get running(): number {
    return this.active;
  }

  /** Jobs not yet started. */
  get waiting(): number {
    let n = this.ready.length;
    for (const q of this.queues.values()) n += q.length - (q[0].state === "queued" ? 0 : 1);
    return n;
  }

  /** Attachments with a job waiting or running (for tests: the map must not grow). */
  get attachments(): number {
    return this.queues.size;
  }

  /** Runs `run` when its turn comes: after the earlier jobs for `key`, and when a slot is free. */
  submit(key: string | undefined, run: () => Promise<void>): Ticket {
    const job: Job = { key, run, state: "ready" };
    if (key !== undefined) {
      const q = this.queues.get(key);
      if (q) {
        job.state = "queued";
        q.push(job);
      } else this.queues.set(key, [job]);
    }
    if (job.state === "ready") this.ready.push(job);
    this.pump();
    return { cancel: () => this.cancel(job) };
  }

  private pump(): void {
    while (this.active < this.limit && this.ready.length > 0) this.start(this.ready.shift()!);
  }

  private start(job: Job): void {
    job.state = "running";
    this.active++;
    let p: Promise<void>;
    try {
      p = Promise.resolve(job.run());
    } catch (e) {
      p = Promise.reject(e);
    }
    const done = () => this.finish(job);
    p.then(done, done);
  }

  private finish(job: Job): void {
    job.state = "done";
    this.active--;
    this.advance(job);
    this.pump();
    this.onFinish();
  }

  /** `job`, the first of its attachment's queue, is out of it: the next one becomes ready. */
  private advance(job: Job): void {
    if (job.key === undefined) return;
    const q = this.queues.get(job.key)!;
    q.shift();
    if (q.length === 0) this.queues.delete(job.key);
    else {
      q[0].state = "ready";
      this.ready.push(q[0]);
    }
  }

  private cancel(job: Job): void {
    if (job.state === "queued") {
      const q = this.queues.get(job.key!)!;
      q.splice(q.indexOf(job), 1);
    } else if (job.state === "ready") {
      this.ready.splice(this.ready.indexOf(job), 1);
      this.advance(job);
      this.pump();
    } else return;
    job.state = "cancelled";
  }
}
