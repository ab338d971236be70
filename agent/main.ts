import { KubeConfig } from "@kubernetes/client-node";
export async function runAgent(args: string[]): Promise<number> {
  void new KubeConfig();
  console.error("patchcord agent: not yet", args);
  return 2;
}
