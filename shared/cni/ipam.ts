import { delegate, DelegateContext } from "./delegate";
import { CniError, ErrorCode } from "./errors";
import { Result } from "./result";
import type { Request } from "./skeleton";
import { faultAfterIpam } from "../kernel/fault-point";

/** What delegation needs from a plugin's request: its environment, stdin bytes and CNI_PATH. */
export const delegateContext = (req: Request<unknown>, stderr?: (t: string) => void): DelegateContext => ({
  path: req.path,
  env: req.env,
  stdin: req.stdin,
  version: req.version,
  // The invocation's own stderr (in the resident server, the reply's), else the process's:
  // console.error, because touching process.stderr first costs a compiled binary about 10 ms.
  stderr: stderr ?? req.stderr ?? ((t) => console.error(t.endsWith("\n") ? t.slice(0, -1) : t)),
});

/**
 * IPAM ADD, then `configure` with its result; if `configure` fails, IPAM DEL runs before the
 * error is passed on, so a failed ADD never keeps an address reserved.
 */
export async function withIpamAdd<T>(type: string, ctx: DelegateContext, configure: (ipam: Result) => Promise<T>): Promise<T> {
  const ipam = await delegate("ADD", type, ctx);
  if (!ipam || !ipam.ips?.length) {
    await delegate("DEL", type, ctx).catch(() => undefined);
    throw new CniError(ErrorCode.InvalidNetworkConfig, `IPAM plugin ${type} returned no IP addresses`);
  }
  faultAfterIpam();
  try {
    return await configure(ipam);
  } catch (e) {
    try {
      await delegate("DEL", type, ctx);
    } catch (delError) {
      ctx.stderr?.(`releasing the IPAM reservation after a failed ADD also failed: ${(delError as Error).message}\n`);
    }
    throw e;
  }
}
