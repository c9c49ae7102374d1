// The error a promise fails with, for tests that check its text; a promise that succeeds fails the test.
import assert from "node:assert/strict";

export async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  assert.fail("expected a failure");
}
