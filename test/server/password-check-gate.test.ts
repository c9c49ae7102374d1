// The bound on logins waiting for a password check: past it, etcd's "too many requests".
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CONCURRENT_PASSWORD_CHECKS,
  MAX_WAITING_PASSWORD_CHECKS,
  PasswordCheckGate,
} from "../../src/server/api/password-check-gate.js";

test("two checks run at once, 256 wait, the next login is refused with 'too many requests' (ResourceExhausted)", async () => {
  assert.equal(CONCURRENT_PASSWORD_CHECKS, 2);
  assert.equal(MAX_WAITING_PASSWORD_CHECKS, 256);
  const gate = new PasswordCheckGate();
  let started = 0;
  const release: Array<() => void> = [];
  const check = () =>
    gate.run(
      () =>
        new Promise<number>((resolve) => {
          const n = ++started;
          release.push(() => resolve(n));
        }),
    );
  const admitted = Array.from({ length: 2 + 256 }, check);
  await new Promise((r) => setImmediate(r));
  assert.equal(started, 2, "only two checks run at once");
  await assert.rejects(check(), (err: unknown) => {
    const e = err as { code: number; grpcMessage: string };
    assert.equal(e.code, 8);
    assert.equal(e.grpcMessage, "etcdserver: too many requests");
    return true;
  });
  // each finished check lets one waiting login in, in order; all of them get their answer
  for (let i = 0; i < admitted.length; i++) {
    while (release.length === 0) await new Promise((r) => setImmediate(r));
    (release.shift() as () => void)();
  }
  const answers = await Promise.all(admitted);
  assert.deepEqual(
    answers,
    answers.map((_, i) => i + 1),
  );
  // the gate is empty again: a new login runs at once
  const again = check();
  await new Promise((r) => setImmediate(r));
  assert.equal(started, admitted.length + 1);
  (release.shift() as () => void)();
  assert.equal(await again, admitted.length + 1);
});
