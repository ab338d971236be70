import { CniError } from "./errors";

/** The CniError `f` throws (the test fails when it throws nothing or something else). */
export function caught(f: () => unknown): CniError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CniError);
    return e as CniError;
  }
  throw new Error("expected an error");
}
