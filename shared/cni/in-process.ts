/** Runs a plugin inside this process with the given environment and stdin; resolves to its output. */
export type InProcessRunner = (env: Record<string, string | undefined>, stdin: Buffer) => Promise<{ code: number; stdout: string; stderr: string }>;

/**
 * Plugins this executable contains (filled by the multi-call entry point). When CNI_PATH resolves
 * a delegate to this very executable, running it in-process is the same code minus a process start.
 */
export const inProcessPlugins: Record<string, InProcessRunner> = {};
