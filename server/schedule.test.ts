import { Scheduler } from "./schedule";

/** A job that runs until its test says so; `log` records starts and ends. */
function harness(limit: number) {
  const log: string[] = [];
  const finishes = new Map<string, () => void>();
  const s = new Scheduler(limit);
  const submit = (key: string | undefined, name: string) =>
    s.submit(key, () => {
      log.push(`start ${name}`);
      return new Promise<void>((resolve) =>
        finishes.set(name, () => {
          log.push(`end ${name}`);
          resolve();
        }),
      );
    });
  const finish = async (name: string) => {
    finishes.get(name)!();
    finishes.delete(name);
    await new Promise((r) => setImmediate(r)); // the scheduler learns of the end in a promise reaction
  };
  return { s, log, submit, finish };
}

test("the same attachment: one at a time, first come first served", async () => {
  const { s, log, submit, finish } = harness(16);
  submit("c1/eth0", "add");
  submit("c1/eth0", "check");
  submit("c1/eth0", "del");
  expect(log).toEqual(["start add"]);
  expect([s.running, s.waiting]).toEqual([1, 2]);
  await finish("add");
  expect(log).toEqual(["start add", "end add", "start check"]);
  await finish("check");
  await finish("del");
  expect(log).toEqual(["start add", "end add", "start check", "end check", "start del", "end del"]);
  expect([s.running, s.waiting, s.attachments]).toEqual([0, 0, 0]);
});

test("different attachments (and calls for none) run side by side", () => {
  const { log, submit } = harness(16);
  submit("c1/eth0", "a");
  submit("c2/eth0", "b");
  submit("c1/net1", "c");
  submit(undefined, "v1");
  submit(undefined, "v2");
  expect(log).toEqual(["start a", "start b", "start c", "start v1", "start v2"]);
});

test("never more than the limit at once; the rest start in arrival order as slots free", async () => {
  const { s, log, submit, finish } = harness(2);
  for (const n of ["a", "b", "c", "d"]) submit(`${n}/eth0`, n);
  expect(log).toEqual(["start a", "start b"]);
  expect([s.running, s.waiting]).toEqual([2, 2]);
  await finish("b");
  expect(log.slice(-1)).toEqual(["start c"]);
  await finish("a");
  expect(log.slice(-1)).toEqual(["start d"]);
  expect(s.running).toBe(2);
});

test("a job queued behind its attachment holds no slot (no deadlock at the limit)", async () => {
  const { log, submit, finish } = harness(2);
  submit("x/eth0", "x1");
  submit("x/eth0", "x2");
  submit("x/eth0", "x3");
  submit("y/eth0", "y1");
  expect(log).toEqual(["start x1", "start y1"]);
  await finish("y1");
  await finish("x1");
  expect(log.slice(-1)).toEqual(["start x2"]);
});

test("a cancelled job never runs and its attachment's next one moves up", async () => {
  const { s, log, submit, finish } = harness(1);
  submit("a/eth0", "a1");
  const a2 = submit("a/eth0", "a2"); // queued behind a1
  const b1 = submit("b/eth0", "b1"); // ready, waiting for the slot
  submit("b/eth0", "b2");
  a2.cancel();
  b1.cancel();
  await finish("a1");
  expect(log).toEqual(["start a1", "end a1", "start b2"]);
  await finish("b2");
  expect([s.running, s.waiting, s.attachments]).toEqual([0, 0, 0]);
  b1.cancel(); // no effect afterwards
  expect(s.attachments).toBe(0);
});

test("cancelling a running job changes nothing", async () => {
  const { s, log, submit, finish } = harness(1);
  const t = submit("a/eth0", "a1");
  submit("a/eth0", "a2");
  t.cancel();
  expect(s.running).toBe(1);
  await finish("a1");
  expect(log).toEqual(["start a1", "end a1", "start a2"]);
});

test("a job that throws or rejects frees its slot and its turn", async () => {
  const s = new Scheduler(1);
  const ran: string[] = [];
  s.submit("a/eth0", () => {
    throw new Error("sync");
  });
  s.submit("a/eth0", () => Promise.reject(new Error("async")));
  s.submit("a/eth0", async () => void ran.push("third"));
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  expect(ran).toEqual(["third"]);
  expect([s.running, s.waiting, s.attachments]).toEqual([0, 0, 0]);
});

test("the maps stay empty after many jobs (no growth per request)", async () => {
  const s = new Scheduler(16);
  let finished = 0;
  for (let round = 0; round < 200; round++) {
    const jobs = Array.from({ length: 50 }, (_, i) => s.submit(`c${i % 7}/eth0`, async () => void finished++));
    if (round % 3 === 0) jobs[49].cancel();
    await new Promise((r) => setImmediate(r));
    while (s.running + s.waiting > 0) await new Promise((r) => setImmediate(r));
  }
  expect(s.attachments).toBe(0);
  expect(finished).toBeGreaterThan(9900);
  expect((s as unknown as { ready: unknown[] }).ready).toEqual([]);
});

test("onFinish is told after each job, once the next ones have started", async () => {
  const seen: number[] = [];
  const s: Scheduler = new Scheduler(1, () => seen.push(s.running));
  s.submit("a", async () => undefined);
  s.submit("a", async () => undefined);
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  expect(seen).toEqual([1, 0]);
});

test("a limit below 1 is a programming error", () => {
  expect(() => new Scheduler(0)).toThrow();
});
