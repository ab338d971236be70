import { NetLab } from "../../integration/netlab";
import { KillCase } from "./cases";
import { KillDriver, Mode, Problems } from "./driver";
import { snapshot } from "./snapshot";

/** Batches beyond which a plan is taken as never ending (the fault point would be broken). */
const MAX_STEPS = 40;

/**
 * The campaign's step protocol: kill a call at one fault point, let the runtime's DEL run, compare
 * the node, the pod and the store with the snapshot from before, then ADD, CHECK and DEL again.
 * Counts the kills, per plugin config in exec mode and apart in server mode.
 */
export class KillSteps {
  readonly kills = new Map<string, number>();

  constructor(
    readonly driver: KillDriver,
    readonly lab: NetLab,
  ) {}

  private count(c: KillCase, mode: Mode): void {
    const key = mode === "server" ? "server mode" : c.name;
    this.kills.set(key, (this.kills.get(key) ?? 0) + 1);
  }

  /**
   * One step of ADD: the ADD killed at `fault`, the runtime's DEL, the node compared with before,
   * then ADD, CHECK and DEL again. Returns whether the ADD completed (the step is past the last).
   */
  async addStep(c: KillCase, fault: string, mode: Mode, problems: Problems, netnsGone = false): Promise<boolean> {
    const { driver, lab } = this;
    await driver.reset(c);
    const pod = await driver.newPod();
    const w = driver.where(c, pod.ns);
    const say = (p: string) => problems.push(`${c.name} ADD ${fault} (${mode}${netnsGone ? ", netns gone before the DEL" : ""}): ${p}`);
    try {
      const before = await snapshot(w);
      const killed = await driver.killedCall(mode, c, "ADD", pod.id, pod.path, fault);
      if (killed.problem) say(killed.problem);
      if (!killed.completed) this.count(c, mode);
      if (netnsGone) {
        // The runtime tears the sandbox down after the failed ADD, then calls DEL: only the node can be compared.
        await lab.deleteNetns(pod.ns);
        const nodeBefore = before.filter((l) => !l.startsWith("pod "));
        const del = await driver.call(c, "DEL", pod.id, pod.path);
        if (del.code !== 0) say(`the runtime's DEL without the netns failed: ${del.stdout.trim()} ${del.stderr.trim()}`);
        (await driver.leftovers(c, { ...w, pod: undefined }, nodeBefore, "after the runtime's DEL without the netns")).forEach(say);
        await driver.recreatePod(pod.ns);
      } else {
        const del = await driver.call(c, "DEL", pod.id, pod.path, { prevResult: killed.result });
        if (del.code !== 0) say(`the runtime's DEL failed: ${del.stdout.trim()} ${del.stderr.trim()}`);
        (await driver.leftovers(c, w, before, "after the runtime's DEL")).forEach(say);
      }
      const again = await driver.addWorks(c, pod.id, pod);
      again.problems.forEach(say);
      const del2 = await driver.call(c, "DEL", pod.id, pod.path, { prevResult: again.result });
      if (del2.code !== 0) say(`the DEL of the repeated ADD failed: ${del2.stdout.trim()}`);
      (await driver.leftovers(c, w, before, "after the repeated ADD and its DEL")).forEach(say);
      return killed.completed;
    } finally {
      await lab.deleteNetns(pod.ns);
    }
  }

  /** One step of DEL: ADD, the DEL killed at `fault`, the runtime's DEL again, compared; ADD and DEL again. */
  async delStep(c: KillCase, fault: string, mode: Mode, problems: Problems): Promise<boolean> {
    const { driver, lab } = this;
    await driver.reset(c);
    const pod = await driver.newPod();
    const w = driver.where(c, pod.ns);
    const say = (p: string) => problems.push(`${c.name} DEL ${fault} (${mode}): ${p}`);
    try {
      const before = await snapshot(w);
      const add = await driver.call(c, "ADD", pod.id, pod.path);
      if (add.code !== 0) throw new Error(`${c.name}: ADD before the killed DEL failed: ${add.stdout} ${add.stderr}`);
      const killed = await driver.killedCall(mode, c, "DEL", pod.id, pod.path, fault, add.json);
      if (killed.problem) say(killed.problem);
      if (!killed.completed) this.count(c, mode);
      const del = await driver.call(c, "DEL", pod.id, pod.path, { prevResult: add.json });
      if (del.code !== 0) say(`the runtime's DEL after the killed one failed: ${del.stdout.trim()} ${del.stderr.trim()}`);
      (await driver.leftovers(c, w, before, "after the runtime's DEL")).forEach(say);
      const again = await driver.addWorks(c, pod.id, pod);
      again.problems.forEach(say);
      await driver.call(c, "DEL", pod.id, pod.path, { prevResult: again.result });
      (await driver.leftovers(c, w, before, "after the repeated ADD and its DEL")).forEach(say);
      return killed.completed;
    } finally {
      await lab.deleteNetns(pod.ns);
    }
  }

  /** Every batch of the verb, before and after: stops at the first N whose call completes. Returns the batch count. */
  async everyBatch(verb: "ADD" | "DEL", c: KillCase, problems: Problems): Promise<number> {
    const step = (fault: string) => (verb === "ADD" ? this.addStep(c, fault, "exec", problems) : this.delStep(c, fault, "exec", problems));
    for (let n = 1; n <= MAX_STEPS; n++) {
      if (await step(`kill:before-batch:${n}`)) return n - 1;
      if (await step(`kill:after-batch:${n}`)) {
        problems.push(`${c.name}: batch ${n} ran but its after-batch kill did not happen`);
        return n;
      }
    }
    throw new Error(`${c.name}: more than ${MAX_STEPS} batches: the fault point never let a call complete`);
  }
}
