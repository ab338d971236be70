/**
 * The agent's log: one line per event, to stderr, each with an ISO timestamp, so `kubectl logs`
 * without --timestamps still reads as a timeline. Expected failures (API server away, a command
 * that failed) are reported as one line of text, never as a stack trace.
 */
export type Log = (line: string) => void;

export function createLog(write: (text: string) => void = (text) => void process.stderr.write(text), now: () => Date = () => new Date()): Log {
  // A message with a newline in it (an API error body, say) would break "one line per event".
  return (line) => write(`${now().toISOString()} ${line.replace(/\s*[\r\n]+\s*/g, " | ")}\n`);
}

const MAX_MESSAGE = 300;

/** An error as one short line: the message (with its errno code), or an API status, never a stack. */
export function errorMessage(err: unknown): string {
  let text: string;
  if (err instanceof AggregateError && err.errors.length > 0 && !err.message) {
    // Node's happy-eyeballs connect fails with one error per address tried and no message of its own.
    text = [...new Set(err.errors.map(errorMessage))].join("; ");
  } else if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    text = err.message || err.name;
    if (typeof code === "string" && !text.includes(code)) text = `${code}: ${text}`;
    const body = (err as { body?: unknown }).body;
    // client-node's ApiException: a numeric code and the server's Status in the body.
    if (typeof code === "number") text = `HTTP ${code}${statusText(body) ? `: ${statusText(body)}` : ""}`;
  } else {
    text = String(err);
  }
  text = text.replace(/\s*[\r\n]+\s*/g, " | ");
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}...` : text;
}

function statusText(body: unknown): string {
  if (typeof body === "string") {
    try {
      return statusText(JSON.parse(body));
    } catch {
      return body.trim();
    }
  }
  if (body && typeof body === "object" && typeof (body as { message?: unknown }).message === "string") return (body as { message: string }).message;
  return "";
}

/**
 * Conditions logged once while they last, not on every loop: `set(group, lines)` logs the lines of
 * the group not already logged, and forgets those no longer there, so one that comes back is
 * logged again.
 */
export class Notes {
  private readonly groups = new Map<string, Set<string>>();

  constructor(private readonly log: Log) {}

  set(group: string, lines: string[]): void {
    const before = this.groups.get(group) ?? new Set<string>();
    for (const line of lines) if (!before.has(line)) this.log(line);
    this.groups.set(group, new Set(lines));
  }
}
