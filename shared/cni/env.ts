import { CniError, ErrorCode } from "./errors";
import { absolutePathProblem, containerIdProblem, interfaceNameProblem } from "./names";

export const COMMANDS = ["ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION"] as const;
export type Command = (typeof COMMANDS)[number];

/** The invocation parameters, validated. Fields a verb does not use are empty strings. */
export interface Invocation {
  command: Command;
  containerId: string;
  /** Empty on DEL when the runtime no longer has a namespace. */
  netns: string;
  ifname: string;
  /** CNI_ARGS as key/value pairs (deprecated by the spec but still sent by Kubernetes). */
  args: Record<string, string>;
  /** CNI_PATH split on `:`; empty when unset. */
  path: string[];
}

type Env = Record<string, string | undefined>;

const REQUIRED: Record<Command, string[]> = {
  ADD: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"],
  CHECK: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"],
  DEL: ["CNI_CONTAINERID", "CNI_IFNAME"],
  GC: ["CNI_PATH"],
  STATUS: [],
  VERSION: [],
};

export function readCommand(env: Env): Command {
  const command = env.CNI_COMMAND ?? "";
  if (command === "") throw new CniError(ErrorCode.InvalidEnvironment, "required env variables [CNI_COMMAND] missing");
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new CniError(ErrorCode.InvalidEnvironment, `unknown CNI_COMMAND: ${JSON.stringify(command)}`, `CNI_COMMAND must be one of ${COMMANDS.join(", ")}`);
  }
  return command as Command;
}

/**
 * Parses CNI_ARGS (`K=V;K=V`). Unknown keys are kept and ignored by whoever does not need them:
 * in a chain every plugin sees every key (Kubernetes sends K8S_POD_*), so strictness breaks chains.
 */
export function parseCniArgs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (text === "") return out;
  for (const pair of text.split(";")) {
    if (pair === "") continue;
    const kv = pair.split("=");
    if (kv.length !== 2 || kv[0] === "") {
      throw new CniError(ErrorCode.InvalidEnvironment, `CNI_ARGS: invalid pair ${JSON.stringify(pair)}`, "CNI_ARGS must be K=V pairs separated by ;");
    }
    out[kv[0]] = kv[1];
  }
  return out;
}

/** Reads and validates the CNI_* variables a verb needs; all missing ones are named at once. */
export function readInvocation(env: Env): Invocation {
  const command = readCommand(env);
  const missing = REQUIRED[command].filter((name) => !env[name]);
  if (missing.length) throw new CniError(ErrorCode.InvalidEnvironment, `required env variables [${missing.join(",")}] missing`);
  // GC, STATUS and VERSION get empty or dummy attachment variables from libcni: ignore them.
  const attachment = command === "ADD" || command === "CHECK" || command === "DEL";
  const inv: Invocation = {
    command,
    containerId: attachment ? env.CNI_CONTAINERID ?? "" : "",
    netns: attachment ? env.CNI_NETNS ?? "" : "",
    ifname: attachment ? env.CNI_IFNAME ?? "" : "",
    args: command === "VERSION" ? {} : parseCniArgs(env.CNI_ARGS ?? ""),
    path: command === "VERSION" ? [] : (env.CNI_PATH ?? "").split(":").filter((p) => p !== ""),
  };
  if (attachment) {
    const checks: [string, string | undefined][] = [
      ["CNI_CONTAINERID", containerIdProblem(inv.containerId)],
      ["CNI_IFNAME", interfaceNameProblem(inv.ifname)],
      ["CNI_NETNS", inv.netns === "" ? undefined : absolutePathProblem(inv.netns)],
    ];
    const bad = checks.filter(([, problem]) => problem);
    if (bad.length) {
      throw new CniError(
        ErrorCode.InvalidEnvironment,
        `invalid env variables [${bad.map(([n]) => n).join(",")}]`,
        bad.map(([n, p]) => `${n} ${JSON.stringify(env[n])} ${p}`).join("; "),
      );
    }
  }
  return inv;
}
