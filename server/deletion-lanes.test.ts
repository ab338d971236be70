import type { DeletionBatch } from "../shared/kernel/netlink/delete-together";
import type { StepsResult } from "../shared/kernel/steps";
import { deletionLanes, namespaceKey } from "./deletion-lanes";

/** A dispatch that records its jobs and finishes each when the test says so. */
function fakeKernel() {
  const jobs: { netns: string | undefined; names: string[][]; finish(results?: StepsResult[]): void; fail(e: Error): void }[] = [];
  const dispatch = (netns: string | undefined, batches: DeletionBatch[]) =>
    new Promise<StepsResult[]>((resolve, reject) => {
      const names = batches.map((b) => b.ops.map((o) => (o.op === "dellink" ? o.name : o.op)));
      jobs.push({ netns, names, finish: (r) => resolve(r ?? names.map((n) => ({ code: 0, stdout: n.join(","), stderr: "" }))), fail: reject });
    });
  return { jobs, dispatch };
}

const del = (name: string) => [{ op: "dellink" as const, name }];
const tick = () => new Promise((r) => setImmediate(r));
// Two paths of one namespace and one of another, as the callers' /proc/self/fd/N would be.
const keyOf = (netns: string | undefined) => (netns === undefined ? undefined : netns.startsWith("/a") ? "A" : "B");
const alone = () => 1; // no other call open: the first deletion never waits
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("the first deletion runs alone at once; those arriving meanwhile go together in one job, each with its own answer", async () => {
  const k = fakeKernel();
  const run = deletionLanes(k.dispatch, keyOf, alone);
  const first = run("/a/1", del("v1"), true);
  expect(k.jobs.map((j) => j.names)).toEqual([[["v1"]]]);
  const later = [run("/a/2", del("v2"), true), run("/a/3", del("v3"), false), run("/a/4", del("v4"), true)];
  await tick();
  expect(k.jobs).toHaveLength(1);
  k.jobs[0].finish();
  expect((await first).stdout).toBe("v1");
  await tick();
  expect(k.jobs).toHaveLength(2);
  expect(k.jobs[1].names).toEqual([["v2"], ["v3"], ["v4"]]);
  expect(k.jobs[1].netns).toBe("/a/2");
  k.jobs[1].finish();
  expect((await Promise.all(later)).map((r) => r.stdout)).toEqual(["v2", "v3", "v4"]);
  // The lane is closed: the next deletion runs at once again.
  const again = run("/a/5", del("v5"), true);
  expect(k.jobs[2].names).toEqual([["v5"]]);
  k.jobs[2].finish();
  await again;
});

test("lanes of different namespaces do not wait for each other; an unknown namespace is never coalesced", async () => {
  const k = fakeKernel();
  const run = deletionLanes(k.dispatch, keyOf, alone);
  const a = run("/a/1", del("a1"), true);
  const b = run("/b/1", del("b1"), true);
  const u1 = run(undefined, del("u1"), true);
  const u2 = run(undefined, del("u2"), true);
  expect(k.jobs.map((j) => j.names)).toEqual([[["a1"]], [["b1"]], [["u1"]], [["u2"]]]);
  k.jobs.forEach((j) => j.finish());
  expect((await Promise.all([a, b, u1, u2])).map((r) => r.stdout)).toEqual(["a1", "b1", "u1", "u2"]);
});

test("a job that fails outright answers each of its callers with an error, and the lane goes on", async () => {
  const k = fakeKernel();
  const run = deletionLanes(k.dispatch, keyOf, alone);
  const first = run("/a/1", del("v1"), true);
  const second = run("/a/2", del("v2"), true);
  k.jobs[0].fail(new Error("thread gone"));
  expect(await first).toEqual({ code: 1, stdout: "", stderr: "thread gone", failedAt: 0 });
  await tick();
  expect(k.jobs[1].names).toEqual([["v2"]]);
  k.jobs[1].finish();
  expect((await second).code).toBe(0);
});

test("with other calls open, the first deletion waits a moment, and those arriving meanwhile join its job", async () => {
  const k = fakeKernel();
  let open = 3;
  const run = deletionLanes(k.dispatch, keyOf, () => open, 20);
  const a = run("/a/1", del("v1"), true);
  const b = run("/a/2", del("v2"), true);
  expect(k.jobs).toHaveLength(0);
  await sleep(40);
  expect(k.jobs.map((j) => j.names)).toEqual([[["v1"], ["v2"]]]);
  k.jobs[0].finish();
  expect((await Promise.all([a, b])).map((r) => r.stdout)).toEqual(["v1", "v2"]);
  // Alone again: no wait.
  open = 1;
  const c = run("/a/3", del("v3"), true);
  expect(k.jobs).toHaveLength(2);
  k.jobs[1].finish();
  await c;
});

test("namespaceKey names a namespace by its inode: two paths to one namespace agree, a missing one is undefined", () => {
  expect(namespaceKey("/proc/self/ns/net")).toBe(namespaceKey(undefined));
  expect(namespaceKey("/proc/self/ns/net")).toMatch(/^\d+:\d+$/);
  expect(namespaceKey("/nonexistent/netns")).toBeUndefined();
});
