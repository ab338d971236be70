import { fs } from "../lazy";

/**
 * The trace of kernel changes: when PATCHCORD_TRACE is `1` or `stderr`, every command we run is
 * written to stderr as the shell command it amounts to; when it is an absolute path, appended there.
 */
export interface Tracer {
  readonly enabled: boolean;
  /** Writes lines (already shell text) to the trace. */
  write(lines: string[]): void;
  close(): void;
}

export function createTracer(env: Record<string, string | undefined>, who: string, stderr: (t: string) => void): Tracer {
  const target = env.PATCHCORD_TRACE ?? "";
  if (target === "" || target === "0") return { enabled: false, write() {}, close() {} };
  const header = `# ${who} ${env.CNI_COMMAND ?? ""} container=${env.CNI_CONTAINERID ?? ""} ifname=${env.CNI_IFNAME ?? ""} netns=${env.CNI_NETNS ?? ""}`;
  let started = false;
  const emit = (text: string) => {
    if (target.startsWith("/") && !/[\0\n]/.test(target)) {
      try {
        fs().appendFileSync(target, text, { mode: 0o600 });
      } catch (e) {
        stderr(`${who}: cannot write trace to ${target}: ${(e as Error).message}\n`);
      }
    } else {
      stderr(text);
    }
  };
  return {
    enabled: true,
    write(lines) {
      if (!lines.length) return;
      // Milliseconds since the process started: the trace doubles as a profile of an invocation.
      const at = `# +${performance.now().toFixed(1)} ms`;
      emit((started ? "" : header + "\n") + at + "\n" + lines.join("\n") + "\n");
      started = true;
    },
    close() {
      if (started) emit(`# +${performance.now().toFixed(1)} ms done\n`);
    },
  };
}
