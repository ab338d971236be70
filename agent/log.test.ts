import { createLog, errorMessage, Notes } from "./log";

test("one timestamped line per message, newlines folded", () => {
  const out: string[] = [];
  const log = createLog((t) => out.push(t), () => new Date("2026-12-01T10:00:00.000Z"));
  log("route 10.244.1.0/24 via 172.18.0.3 added");
  log("HTTP 500:\n  body");
  expect(out).toEqual(["2026-12-01T10:00:00.000Z route 10.244.1.0/24 via 172.18.0.3 added\n", "2026-12-01T10:00:00.000Z HTTP 500: | body\n"]);
});

describe("errorMessage: one line, no stack", () => {
  test("errno errors keep their code", () => {
    expect(errorMessage(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }))).toBe("ECONNRESET: socket hang up");
    expect(errorMessage(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6443"), { code: "ECONNREFUSED" }))).toBe("connect ECONNREFUSED 127.0.0.1:6443");
  });

  test("happy-eyeballs AggregateError: the addresses' errors", () => {
    const e = new AggregateError([new Error("connect ECONNREFUSED ::1:6443"), new Error("connect ECONNREFUSED 127.0.0.1:6443")], "");
    expect(errorMessage(e)).toBe("connect ECONNREFUSED ::1:6443; connect ECONNREFUSED 127.0.0.1:6443");
  });

  test("client-node's ApiException: the status and the Status message", () => {
    const e = Object.assign(new Error("HTTP-Code: 403\nMessage: Unknown API Status Code!\nBody: ..."), { code: 403, body: JSON.stringify({ kind: "Status", message: 'nodes is forbidden: User "x" cannot list resource "nodes"' }) });
    expect(errorMessage(e)).toBe('HTTP 403: nodes is forbidden: User "x" cannot list resource "nodes"');
  });

  test("long messages are cut", () => {
    expect(errorMessage(new Error("x".repeat(1000))).length).toBeLessThan(310);
    expect(errorMessage("plain")).toBe("plain");
  });
});

test("Notes: a condition is logged once while it lasts, again when it comes back", () => {
  const lines: string[] = [];
  const notes = new Notes((l) => lines.push(l));
  notes.set("waiting", ["no podCIDR yet"]);
  notes.set("waiting", ["no podCIDR yet"]);
  notes.set("nodes", ["node b: no route"]);
  notes.set("waiting", []);
  notes.set("waiting", ["no podCIDR yet"]);
  expect(lines).toEqual(["no podCIDR yet", "node b: no route", "no podCIDR yet"]);
});
