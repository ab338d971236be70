/** Whether PATCHCORD_TRACE asks for diagnostics (as shared/kernel/trace.ts reads it). */
export const traceWanted = (env: Record<string, string | undefined>): boolean => {
  const t = env.PATCHCORD_TRACE ?? "";
  return t !== "" && t !== "0";
};

/** One line for something thrown that nobody caught: its message, its stack only when tracing. */
export function failureLine(who: string, e: unknown, env: Record<string, string | undefined>): string {
  if (e instanceof Error) return `${who}: ${traceWanted(env) && e.stack ? e.stack : e.message}`;
  return `${who}: ${String(e)}`;
}
